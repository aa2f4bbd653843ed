/** Reading HTTP request bodies with a size limit, before any protocol code sees them. */
import type { IncomingMessage } from "node:http";
import { AuthError } from "../../domain/errors.js";

export function tooLarge(limit: number): AuthError {
  return new AuthError("REQUEST_TOO_LARGE", { message: `The request body exceeds ${limit} bytes.` });
}

/**
 * Reads the whole body; rejects with REQUEST_TOO_LARGE as soon as it passes `limit` (at once when
 * Content-Length says so), without buffering the excess.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks, size)));
    req.once("error", reject);
  });
}

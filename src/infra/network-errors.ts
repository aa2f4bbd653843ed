/** Socket-level failures: the server is not there, or went away. Shared by the store adapters. */
const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

/** Whether `error` carries a Node.js network error code. */
export function hasNetworkErrorCode(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && networkCodes.has(code);
}

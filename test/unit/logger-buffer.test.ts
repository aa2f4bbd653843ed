/**
 * The buffered stdout of the logger (LOG_BUFFER_BYTES, src/logger.ts): lines held are written
 * within the flush interval on a quiet process, all of them at exit, and each as it comes with 0.
 * Each case runs a small Node process and reads its stdout.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";

/**
 * Runs `body` (after `log` = createLogger("info", undefined, { bufferBytes })); resolves with the
 * lines' messages seen on stdout at each moment asked (in ms after the body ran) and at the end.
 */
function run(
  bufferBytes: number,
  body: string,
  readAfterMs: number[],
): Promise<{ seen: string[][]; final: string[]; code: number | null; stderr: string }> {
  const script = `
    import { createLogger } from "./src/logger.ts";
    const log = createLogger("info", undefined, { bufferBytes: ${bufferBytes} });
    process.stderr.write("ran\\n");
    ${body}
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      const before = err;
      err += chunk.toString();
      if (!before.includes("ran\n") && err.includes("ran\n"))
        for (const [i, ms] of readAfterMs.entries()) setTimeout(() => (seen[i] = lines()), ms);
    });
    const lines = () =>
      out
        .split("\n")
        .filter(Boolean)
        .map((line) => String((JSON.parse(line) as { msg: unknown }).msg));
    const seen: string[][] = [];
    child.once("error", reject);
    // "close": the child has exited and its stdout is read to the end.
    child.once("close", (code) => resolve({ seen, final: lines(), code, stderr: err.replace("ran\n", "") }));
  });
}

describe("the logger's buffered stdout", () => {
  it("writes a line held on a quiet process within the flush interval, without waiting for more", async () => {
    // The process stays up 3 s after logging; by 1.5 s the line must be out (a 250 ms interval, a loaded machine).
    const { seen, code, stderr } = await run(4096, `log.info("held line"); setTimeout(() => {}, 3000);`, [1500]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(seen[0]).toEqual(["held line"]);
  });

  it("writes every line it holds when the process exits, on process.exit as on a natural end", async () => {
    const exited = await run(4096, `for (let i = 0; i < 5; i++) log.info("line " + i); log.error("an error"); process.exit(3);`, []);
    expect(exited.code).toBe(3);
    expect(exited.final).toEqual(["line 0", "line 1", "line 2", "line 3", "line 4", "an error"]);
    const ended = await run(4096, `for (let i = 0; i < 3; i++) log.info("line " + i);`, []);
    expect(ended.final).toEqual(["line 0", "line 1", "line 2"]);
  });

  it("writes far more lines than it holds, in order, none lost or cut", async () => {
    const { final } = await run(4096, `for (let i = 0; i < 2000; i++) log.info("line " + i); setTimeout(() => {}, 300);`, []);
    expect(final).toEqual(Array.from({ length: 2000 }, (_, i) => `line ${i}`));
  });

  it("writes each line as it comes with 0", async () => {
    const { seen } = await run(0, `log.info("at once"); setTimeout(() => {}, 3000);`, [1500]);
    expect(seen[0]).toEqual(["at once"]);
  });
});

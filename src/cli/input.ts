/** What the CLI reads from its operator: secrets from standard input, never from the command line. */

/** All of standard input, without its final line break (a password piped in: `printf %s "$PW" | …`). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

/**
 * A secret typed at a terminal without echoing it (prompt on standard error), or, when standard
 * input is not a terminal, what was piped in. Command-line arguments are visible to every user of
 * the machine (`ps`), so a password never comes from there.
 */
export async function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return readStdin();
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding("utf8");
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = "";
      const onData = (text: string) => {
        for (const char of text) {
          if (char === "\r" || char === "\n") {
            stdin.off("data", onData);
            resolve(typed);
            return;
          }
          if (char === "\u0003") {
            stdin.off("data", onData);
            reject(new Error("interrupted"));
            return;
          }
          if (char === "\u007f" || char === "\b") typed = typed.slice(0, -1);
          else typed += char;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

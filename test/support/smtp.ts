/**
 * A real SMTP server in the test process (npm smtp-server): the service sends to it through
 * SMTP_URL, and tests read what arrived, parsed by mailparser as a mail client would.
 */
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { choosePorts, onFreshPorts, type PortChooser, ServerStartError } from "./servers.js";

export interface TestSmtp {
  readonly url: string;
  readonly port: number;
  readonly messages: ParsedMail[];
  /** Starts listening (again) on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The next message to `to` matching `subject`, waiting up to `timeoutMs`. */
  waitFor(to: string, subject: RegExp, timeoutMs?: number): Promise<ParsedMail>;
}

export function recipientOf(mail: ParsedMail): string[] {
  const to = Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : [];
  return to.flatMap((address) => address.value.map((v) => v.address?.toLowerCase() ?? ""));
}

/** The first link in the mail's text part. */
export function linkIn(mail: ParsedMail): URL {
  const match = /https?:\/\/\S+/.exec(mail.text ?? "");
  if (!match) throw new Error(`no link in the mail "${mail.subject}"`);
  return new URL(match[0]);
}

/**
 * An SMTP server on a free port, listening at once unless `listen` is false (then `start` listens
 * later, on that port). A port taken before it listens is replaced by a fresh one.
 */
export async function createTestSmtp(options: { listen?: boolean; choosePort?: PortChooser } = {}): Promise<TestSmtp> {
  let [port] = (await choosePorts(1, options.choosePort)) as [number];
  const messages: ParsedMail[] = [];
  const taken = new Set<ParsedMail>();
  let server: SMTPServer | undefined;

  const listenOn = (on: number) =>
    new Promise<void>((resolve, reject) => {
      server = new SMTPServer({
        authOptional: true,
        disabledCommands: ["STARTTLS"],
        logger: false,
        onData(stream, _session, callback) {
          simpleParser(stream).then(
            (mail) => {
              messages.push(mail);
              callback();
            },
            (error: Error) => callback(error),
          );
        },
      });
      server.once("error", (error: NodeJS.ErrnoException) =>
        reject(new ServerStartError(`the test SMTP server could not listen on port ${on}: ${error.message}`, error.code === "EADDRINUSE")),
      );
      server.listen(on, "127.0.0.1", () => resolve());
    });
  const start = () => listenOn(port);
  if (options.listen !== false) {
    port = await onFreshPorts(
      [port],
      async ([chosen]) => {
        await listenOn(chosen!);
        return chosen!;
      },
      options,
    );
  }

  const smtp: TestSmtp = {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    start,
    stop: () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
    async waitFor(to, subject, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const mail = messages.find((m) => !taken.has(m) && recipientOf(m).includes(to.toLowerCase()) && subject.test(m.subject ?? ""));
        if (mail) {
          taken.add(mail);
          return mail;
        }
        if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${subject} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
  return smtp;
}

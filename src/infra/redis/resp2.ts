/**
 * The little of RESP2 the invalidation thread speaks (invalidation-program.ts): commands out,
 * replies in. Both functions are also evaluated in the thread (embedded in its source), so they
 * must stay self-contained.
 */

/** A RESP2 reply: simple string, integer, bulk string (a Buffer), null, error, or array. */
export type Reply = string | number | Buffer | null | { readonly error: string } | Reply[];

/** A command as a RESP2 array of bulk strings. */
export function encodeCommand(...args: string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return out;
}

/** One reply read from `buf` at `at`, and where the next begins; undefined while incomplete. Throws on bytes that are not RESP2. */
export function parseReply(buf: Buffer, at: number): { value: Reply; next: number } | undefined {
  const eol = buf.indexOf("\r\n", at);
  if (eol < 0) return undefined;
  const line = buf.toString("latin1", at + 1, eol);
  const type = buf[at];
  if (type === 43) return { value: line, next: eol + 2 }; // +
  if (type === 45) return { value: { error: line }, next: eol + 2 }; // -
  if (type === 58) return { value: Number(line), next: eol + 2 }; // :
  const count = Number(line);
  if ((type !== 36 && type !== 42) || !Number.isInteger(count)) throw new Error("a reply that is not RESP2");
  if (count < 0) return { value: null, next: eol + 2 };
  if (type === 36) {
    // $: a bulk string
    const end = eol + 2 + count;
    return buf.length < end + 2 ? undefined : { value: buf.subarray(eol + 2, end), next: end + 2 };
  }
  // *: an array
  const items: Reply[] = [];
  let next = eol + 2;
  for (let i = 0; i < count; i++) {
    const item = parseReply(buf, next);
    if (item === undefined) return undefined;
    items.push(item.value);
    next = item.next;
  }
  return { value: items, next };
}

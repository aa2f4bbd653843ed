/**
 * The Redis Cluster slot of a key, as the Cluster specification defines it: CRC16 (XMODEM) of the
 * key's hash tag (the text between the first `{` and the next `}`, when not empty) or of the whole
 * key, modulo 16384. (ioredis has its own copy, in a package it does not export.)
 */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export function keySlot(key: string): number {
  const open = key.indexOf("{");
  const close = open < 0 ? -1 : key.indexOf("}", open + 1);
  const tagged = open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(tagged, "utf8")) % 16384;
}

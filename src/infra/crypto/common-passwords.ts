/**
 * The blocklist of common passwords (NIST SP 800-63B): the ~49,000 most common passwords from
 * the zxcvbn-ts common dictionary (MIT), compared case-insensitively.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { CommonPasswords } from "../../domain/ports.js";

/**
 * The list as the package ships it (its `src/passwords.json`, the same array its entry point
 * exports as `dictionary["passwords-common"]`), read from the file rather than imported: an
 * imported module stays loaded for the life of the process, and with it the whole list (~2 MB of
 * every process's heap); read and parsed here, it is garbage once the blocklist is built.
 */
function readList(): unknown {
  const path = createRequire(import.meta.url).resolve("@zxcvbn-ts/language-common/src/passwords.json");
  return JSON.parse(readFileSync(path, "utf8"));
}

export function loadCommonPasswords(minLength: number): CommonPasswords {
  const words = readList();
  if (!Array.isArray(words) || !words.every((word) => typeof word === "string")) {
    throw new Error("the common password list is not a list of words: is @zxcvbn-ts/language-common installed?");
  }
  // Shorter entries can never pass the length rule, so they need not take memory.
  const blocked = [...new Set(words.filter((word) => word.length >= minLength).map((word) => word.toLowerCase()))];
  if (blocked.length === 0) throw new Error("the common password list is empty: is @zxcvbn-ts/language-common installed?");
  // Sorted (by UTF-16 code units, as `<` compares) and concatenated into one string, looked up by
  // binary search: ~0.5 MB instead of the 2.7 MB a Set of 42,000 strings takes in each process,
  // for ~16 comparisons per lookup, on the paths that set a password only.
  blocked.sort();
  const text = blocked.join("");
  const starts = new Uint32Array(blocked.length + 1);
  for (let i = 0; i < blocked.length; i++) starts[i + 1] = (starts[i] as number) + (blocked[i] as string).length;
  // Only `text` and `starts` are kept: the array of words is garbage after this function.
  const count = blocked.length;
  const wordAt = (i: number) => text.slice(starts[i], starts[i + 1]);
  return {
    includes(password) {
      const wanted = password.toLowerCase();
      let low = 0;
      let high = count;
      while (low < high) {
        const middle = (low + high) >>> 1;
        const word = wordAt(middle);
        if (word === wanted) return true;
        if (word < wanted) low = middle + 1;
        else high = middle;
      }
      return false;
    },
  };
}

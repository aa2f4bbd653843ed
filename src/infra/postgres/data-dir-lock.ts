/**
 * The lock of the embedded database folder. PGlite is one process's database: a second process
 * that opens the same folder (the CLI while the server runs) writes behind the server's back, and
 * what it wrote is lost or the files are damaged when the server next writes. So whoever opens the
 * folder holds `DATA_DIR/pglite.lock` (its pid, what it is, since when), created exclusively; a
 * lock whose pid is no longer alive (a process killed before it could release it) is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file (if it is still ours); safe to call twice. */
  release(): void;
}

/** The folder is held by another live process. */
export class DataDirBusyError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly holder: string,
  ) {
    super(
      `the embedded database in ${dataDir} is in use by ${holder} (pid ${pid}). Stop it first, or administer the running ` +
        "service through its API (create-tenant, create-role, grant, disable, list-users …): `authward <command> --url <its URL>`, " +
        "or `npm run cli -- <command> --url <its URL>` from the sources",
    );
    this.name = "DataDirBusyError";
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readHolder(path: string): { pid: number; holder: string } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as { pid?: unknown; holder?: unknown };
    return typeof parsed.pid === "number" ? { pid: parsed.pid, holder: String(parsed.holder ?? "another process") } : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock of `dataDir` for this process, or throws DataDirBusyError naming who holds it. */
export function lockDataDir(dataDir: string, holder: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, "pglite.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx", 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const current = readHolder(path);
      if (current !== undefined && current.pid !== process.pid && isAlive(current.pid)) {
        throw new DataDirBusyError(dataDir, current.pid, current.holder);
      }
      // A lock left by a process that is gone (or half-written by one that died at once).
      try {
        unlinkSync(path);
      } catch {
        // Another process removed it first; try again.
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify({ pid: process.pid, holder, since: new Date().toISOString() }));
    } finally {
      closeSync(fd);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off("exit", release);
      if (readHolder(path)?.pid !== process.pid) return;
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    };
    // A process that exits without stopping (an error at start-up) still lets go of the folder.
    process.on("exit", release);
    return { path, release };
  }
  throw new Error(`could not take the lock ${path}`);
}

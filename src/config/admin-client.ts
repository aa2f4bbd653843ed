/** The configuration of the CLI's administration commands, which talk to a running service. */
import { createConfigReader } from "./reader.js";

/** What the CLI's administration commands need: where the service is, and a credential. */
export interface AdminClientConfig {
  /** PUBLIC_URL, else http://localhost:$HTTP_PORT. */
  readonly url: string;
  readonly defaultTenant: string;
  readonly platformTenant: string;
  /** AUTH_ADMIN_TOKEN. */
  readonly adminToken: string | undefined;
}

/**
 * Reads only what the CLI's administration commands need: they talk to a running service and must
 * not fail on settings that only the service itself uses.
 */
export function loadAdminClientConfig(env: Readonly<Record<string, string | undefined>>): AdminClientConfig {
  const r = createConfigReader(env);
  const httpPort = r.int("HTTP_PORT", 8080, 0, 65535);
  const config: AdminClientConfig = {
    url: (r.url("PUBLIC_URL", ["http:", "https:"]) ?? `http://localhost:${httpPort}`).replace(/\/+$/, ""),
    defaultTenant: r.str("DEFAULT_TENANT", "default"),
    platformTenant: r.str("PLATFORM_TENANT", "system"),
    adminToken: r.raw("AUTH_ADMIN_TOKEN"),
  };
  r.throwIfProblems();
  return Object.freeze(config);
}

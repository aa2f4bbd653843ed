/**
 * The CLI's client of a running service's AdminService (Connect over HTTP/1.1), so that what the
 * CLI changes goes through the service like any other call: validated, audited with the operator
 * as the actor, and seen at once by every instance. The credential is an administrator's access
 * token: AUTH_ADMIN_TOKEN, or a sign-in with `--login` whose password is read from the terminal or
 * standard input (never from the command line); that session is ended when the command is done.
 */
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "../gen/auth/admin/v1/admin_pb.js";
import { AuthService } from "../gen/auth/v1/auth_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { readSecret } from "./input.js";

export interface AdminSession {
  readonly admin: Client<typeof AdminService>;
  /** Ends the sign-in session the CLI started, if it started one. */
  close(): Promise<void>;
}

export interface Credential {
  /** An access token (AUTH_ADMIN_TOKEN). */
  readonly token: string | undefined;
  /** Sign in as this email or username instead. */
  readonly login: string | undefined;
  /** The tenant to sign in to. */
  readonly loginTenant: string;
}

/** A usage or credential problem the operator must fix: printed without a stack, exit code 64. */
export class UsageError extends Error {}

export async function openAdminSession(baseUrl: string, credential: Credential): Promise<AdminSession> {
  const transport = (interceptors: Interceptor[] = []) => createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors });
  let token = credential.token;
  let signedIn = false;
  if (credential.login !== undefined) {
    const password = await readSecret(`password of ${credential.login}: `);
    const auth = createClient(AuthService, transport());
    const login = await auth.login({ identifier: credential.login, password }, { headers: { "x-tenant": credential.loginTenant } });
    token = login.accessToken;
    signedIn = true;
  }
  if (token === undefined) {
    throw new UsageError(
      "no administrator credential: set AUTH_ADMIN_TOKEN to an access token, or pass --login <email> (and --login-tenant <tenant>) and type the password",
    );
  }
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  return {
    admin: createClient(AdminService, transport([bearer])),
    async close() {
      if (!signedIn) return;
      await createClient(AuthService, transport([bearer]))
        .logout({})
        .catch(() => {});
    },
  };
}

/** One line for an error from the service: code, reason and message (what an operator can act on). */
export function describeError(error: unknown): string {
  if (error instanceof ConnectError) {
    const reason = error.findDetails(ErrorInfoSchema)[0]?.reason;
    if (error.code === Code.Unavailable && reason === undefined) return `cannot reach the service: ${error.rawMessage}`;
    // PermissionDenied -> PERMISSION_DENIED, as gRPC and docs/api.md name the codes.
    const code = Code[error.code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
    return `${code}${reason ? ` ${reason}` : ""}: ${error.rawMessage}`;
  }
  return error instanceof Error ? error.message : String(error);
}

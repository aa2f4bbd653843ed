/**
 * `createAuthClient`: the AuthService for TypeScript apps (Node or browser), holding the user's
 * tokens. It attaches the access token to the calls that need one, refreshes it shortly before it
 * expires and when the service answers UNAUTHENTICATED with reason TOKEN_EXPIRED (then retries the
 * call once), and never refreshes twice for the same token: however many calls find the token
 * stale at once, they share one Refresh (single-flight). Bring any Connect transport: connect-web's
 * in a browser, connect-node's in Node. It depends on nothing Node-specific.
 *
 *   const auth = createAuthClient({ transport: createConnectTransport({ baseUrl }), onTokens: save });
 *   await auth.login("ada@example.com", password); // MfaRequiredError when a second factor is needed: auth.verifyMfa(e.ticket, { code })
 *   const { user } = await auth.service.me({});
 *   // Your own services, with the same tokens:
 *   const orders = createClient(OrderService, auth.authorize(createConnectTransport({ baseUrl: ordersUrl })));
 */
import { getOption } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { AuthService, type User } from "./gen/auth/v1/auth_pb.js";
import { CallerAuth, caller_auth } from "./gen/auth/v1/options_pb.js";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

export interface AuthTokens {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** When the access token expires (ms since the epoch, the client's clock). */
  readonly accessExpiresAt: number;
}

/**
 * Login's answer for a user who needs a second factor: no tokens, a ticket for `verifyMfa` (or, with
 * `enrollment`, for BeginMfaEnrollment and ConfirmMfaEnrollment: the user's tenant requires MFA
 * and the user has none).
 */
export class MfaRequiredError extends Error {
  override readonly name = "MfaRequiredError";
  constructor(
    /** Opaque, single use: pass it to `verifyMfa`. */
    readonly ticket: string,
    /** True when the user must enrol a second factor first. */
    readonly enrollment: boolean,
    /** Seconds the ticket remains valid. */
    readonly expiresIn: number,
  ) {
    super(enrollment ? "a second factor must be enrolled before signing in" : "a second factor is required: call verifyMfa");
  }
}

export interface AuthClientOptions {
  /** The Connect (or gRPC-Web) transport to the auth service. */
  readonly transport: Transport;
  /** Tokens saved from an earlier session, to start signed in. */
  readonly tokens?: AuthTokens;
  /** Told whenever the tokens change (undefined once signed out or refused): persist them here. */
  readonly onTokens?: (tokens: AuthTokens | undefined) => void;
  /** Refresh this long before the access token expires; default 60 s. */
  readonly refreshBeforeMs?: number;
  /** The `x-tenant` to send; default none (the service's default tenant). */
  readonly tenant?: string;
  /** The clock; default Date.now. */
  readonly now?: () => number;
}

export interface AuthClient {
  /** The AuthService, with the user's access token attached and kept fresh. */
  readonly service: Client<typeof AuthService>;
  /** Wraps a transport to your own services so that its calls carry the same, fresh, access token. */
  authorize(transport: Transport): Transport;
  /** Signs in; throws MfaRequiredError (keeping no tokens) when a second factor is needed. */
  login(identifier: string, password: string): Promise<User | undefined>;
  /** Completes a sign-in that threw MfaRequiredError, with a code from the authenticator app or a recovery code. */
  verifyMfa(ticket: string, proof: { readonly code: string } | { readonly recoveryCode: string }): Promise<User | undefined>;
  /** Ends this session (or all of them) and forgets the tokens. */
  logout(allSessions?: boolean): Promise<void>;
  tokens(): AuthTokens | undefined;
}

/** AuthService methods a caller invokes without its access token (Login, Refresh, Register …). */
const anonymous = new Set(AuthService.methods.filter((m) => getOption(m, caller_auth) === CallerAuth.NONE));

function isExpiredTokenError(error: unknown): boolean {
  const connectError = ConnectError.from(error);
  return (
    connectError.code === Code.Unauthenticated && connectError.findDetails(ErrorInfoSchema).some((info) => info.reason === "TOKEN_EXPIRED")
  );
}

/** The tokens a client holds, refreshed one at a time. */
interface TokenKeeper {
  current(): AuthTokens | undefined;
  store(next: AuthTokens | undefined): void;
  received(answer: { accessToken: string; refreshToken: string; expiresIn: number }): void;
  /** Refreshes unless the token changed since `stale` was read (someone refreshed already); one at a time. */
  refresh(stale: string): Promise<void>;
  /** The access token to send now: refreshed first when it is about to expire. */
  fresh(): Promise<string | undefined>;
}

function createTokenKeeper(
  options: AuthClientOptions,
  plain: Client<typeof AuthService>,
  tenantHeader: Record<string, string>,
): TokenKeeper {
  const now = options.now ?? Date.now;
  const refreshBeforeMs = options.refreshBeforeMs ?? 60_000;
  let tokens = options.tokens;
  let refreshing: Promise<void> | undefined;
  const keeper: TokenKeeper = {
    current: () => tokens,
    store(next) {
      tokens = next;
      options.onTokens?.(next);
    },
    received: (answer) =>
      keeper.store({
        accessToken: answer.accessToken,
        refreshToken: answer.refreshToken,
        accessExpiresAt: now() + answer.expiresIn * 1000,
      }),
    refresh(stale) {
      if (tokens !== undefined && tokens.accessToken !== stale) return Promise.resolve();
      refreshing ??= (async () => {
        try {
          const current = tokens;
          if (current === undefined) throw new ConnectError("not signed in", Code.Unauthenticated);
          keeper.received(await plain.refresh({ refreshToken: current.refreshToken }, { headers: tenantHeader }));
        } catch (error) {
          // A refused refresh token (reused, revoked, expired session) means signing in again.
          if (ConnectError.from(error).code === Code.Unauthenticated) keeper.store(undefined);
          throw error;
        } finally {
          refreshing = undefined;
        }
      })();
      return refreshing;
    },
    async fresh() {
      if (tokens !== undefined && now() >= tokens.accessExpiresAt - refreshBeforeMs) await keeper.refresh(tokens.accessToken);
      return tokens?.accessToken;
    },
  };
  return keeper;
}

/** Wraps a transport so that calls needing a user carry the keeper's access token, refreshed when needed. */
function authorizing(keeper: TokenKeeper, tenantHeader: Record<string, string>): (inner: Transport) => Transport {
  const withToken = (header: ConstructorParameters<typeof Headers>[0], token: string): Headers => {
    const headers = new Headers(header);
    headers.set("authorization", `Bearer ${token}`);
    for (const [name, value] of Object.entries(tenantHeader)) headers.set(name, value);
    return headers;
  };
  return (inner) => ({
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const token = anonymous.has(method) ? undefined : await keeper.fresh();
      if (token === undefined) return inner.unary(method, signal, timeoutMs, header, input, contextValues);
      try {
        return await inner.unary(method, signal, timeoutMs, withToken(header, token), input, contextValues);
      } catch (error) {
        if (!isExpiredTokenError(error)) throw error;
        // The service says expired before our clock did (clock drift, a token restored from storage).
        await keeper.refresh(token);
        const retry = keeper.current()?.accessToken;
        if (retry === undefined) throw error;
        return inner.unary(method, signal, timeoutMs, withToken(header, retry), input, contextValues);
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const token = await keeper.fresh();
      return inner.stream(method, signal, timeoutMs, token === undefined ? header : withToken(header, token), input, contextValues);
    },
  });
}

export function createAuthClient(options: AuthClientOptions): AuthClient {
  const tenantHeader: Record<string, string> = options.tenant ? { "x-tenant": options.tenant } : {};
  // Login and Refresh go through the bare transport (the wrapped one would wait on itself).
  const plain = createClient(AuthService, options.transport);
  const keeper = createTokenKeeper(options, plain, tenantHeader);
  const authorize = authorizing(keeper, tenantHeader);
  const service = createClient(AuthService, authorize(options.transport));
  return {
    service,
    authorize,
    async login(identifier, password) {
      const answer = await plain.login({ identifier, password }, { headers: tenantHeader });
      if (answer.mfaRequired || answer.mfaEnrollmentRequired) {
        throw new MfaRequiredError(answer.mfaTicket, answer.mfaEnrollmentRequired, answer.mfaTicketExpiresIn);
      }
      keeper.received(answer);
      return answer.user;
    },
    async verifyMfa(ticket, proof) {
      const answer = await plain.verifyMfa({ mfaTicket: ticket, ...proof }, { headers: tenantHeader });
      keeper.received(answer);
      return answer.user;
    },
    async logout(allSessions = false) {
      try {
        if (keeper.current() !== undefined) await service.logout({ allSessions });
      } finally {
        keeper.store(undefined);
      }
    },
    tokens: () => keeper.current(),
  };
}

/**
 * The call envelope: what every call needs, whatever carries it. A transport describes the call
 * (`CallInput`), `open`s it, runs its handler through `run`, and writes what `run` resolves with, or
 * the AuthError it rejects with, in its own wire format. In between, the envelope gives the call a
 * request id, the caller's context for the flows, the facts of its log line, its server span when
 * tracing is on (./tracing.ts), and at the end one log line, the metrics and the span's end. Modeled on connect-es interceptors: a concern written once as an
 * `Interceptor` applies to gRPC, Connect, the REST gateway, the OAuth endpoint and the seed routes
 * alike (see ARCHITECTURE.md for where each planned concern goes).
 */
import type { DescMethod } from "@bufbuild/protobuf";
import type { AuthError } from "../../domain/errors.js";
import type { RequestContext } from "../../domain/model.js";
import { toAuthError } from "../errors.js";
import { clientAddressFrom, credentialFrom, requestIdFrom, type TrustedProxies, tenantFrom } from "./context.js";
import { type CallFacts, type CallObserver, observeCallEnd, type Transport } from "./log.js";
import type { CallSpan, CallTracer } from "./tracing.js";

/** What a transport knows about a call before it runs. Its functions are called as its methods: a transport may implement it as a class. */
export interface CallInput {
  readonly transport: Transport;
  /** The RPC (`Login`) or the route (`oauth.token`), for the log line and the metrics. */
  readonly name: string;
  /** The proto method when the call is an RPC: its options (such as `caller_auth`) drive per-RPC concerns. */
  readonly method: DescMethod | undefined;
  /** A request header (HTTP) or metadata entry (gRPC) by lowercase name; the first value when repeated. */
  readonly header: (name: string) => string | undefined;
  /**
   * A list header's values joined with commas (`x-forwarded-for`, `forwarded`), where the
   * transport keeps repeated values apart (gRPC metadata); HTTP joins them itself, and `header`
   * serves.
   */
  readonly headerList?: (name: string) => string | undefined;
  /** The IP address of the socket peer. */
  readonly peer: string | undefined;
  /** When the call began, if before `open` (a body read first); now otherwise. */
  readonly startedAt?: number;
  /** Calls `start` once the answer has been written: `RequestContext.afterAnswer`. */
  readonly afterAnswer?: (start: () => void) => void;
  /** On REST routes: the request's method, the route's path template, and the status an outcome is written with (for the call's span). */
  readonly http?: {
    readonly method: string;
    readonly route: string | undefined;
    readonly status: (error: AuthError | undefined) => number;
  };
}

/** One call in flight. */
export interface Call {
  readonly input: CallInput;
  readonly requestId: string;
  /** The caller, as the flows see it. */
  readonly ctx: RequestContext;
  /** The fields of the call's log line; `userId` is filled in once a flow knows the caller. */
  readonly facts: CallFacts;
  /**
   * Headers the transport sends with the answer, success or failure: the request id, and
   * `Cache-Control: no-store` on every API answer, since any of them may carry a token or a
   * user's data (RFC 6749 §5.1 asks it of token responses; on native gRPC it is response metadata,
   * harmless there, and kept so that a proxy transcoding gRPC to HTTP caches nothing either).
   */
  readonly responseHeaders: Record<string, string>;
  readonly startedAt: number;
  /** The call's server span, when tracing is on. */
  readonly span: CallSpan | undefined;
}

/** The work of a call: decode, call a flow or a handler, build the answer. */
export type CallHandler<T> = (call: Call) => Promise<T>;

/**
 * A concern around every call's handler, as a connect-es interceptor is: it sees the call before,
 * and the answer or the error after; it may refuse the call by throwing an AuthError.
 */
export type Interceptor = <T>(next: CallHandler<T>) => CallHandler<T>;

export interface CallEnvelope {
  /** Reads the call's headers into its request id, context and facts. */
  open(input: CallInput): Call;
  /** Runs `handler` through the interceptors, then ends the call; rejects with the AuthError to answer with. */
  run<T>(call: Call, handler: CallHandler<T>): Promise<T>;
  /** Ends a call that failed before its handler could run (a body its transport could not read); returns the AuthError to answer with. */
  fail(call: Call, error: unknown): AuthError;
}

export interface CallEnvelopeOptions {
  /** Concerns around every handler, outermost first. */
  readonly interceptors?: readonly Interceptor[];
  /** Server spans (src/tracing/, when OTEL_* configure it); undefined: no tracing, at the cost of three `undefined` checks per call. */
  readonly tracer?: CallTracer;
  /** TRUSTED_PROXIES: whose forwarding header gives the client's address (context.ts). */
  readonly trustedProxies?: TrustedProxies;
}

/**
 * The caller, as the flows see it: a class, not an object literal with a getter, which V8 builds
 * through a runtime call on every call. The client address is worked out only when a flow asks
 * (the flows that check a secret or mail, sessions, the audit): ValidateToken, the hot path, never
 * reads it and pays nothing.
 */
class CallContext implements RequestContext {
  readonly credential: RequestContext["credential"];
  readonly userAgent: string | undefined;
  private address: string | undefined | null = null;

  constructor(
    private readonly input: CallInput,
    private readonly facts: CallFacts,
    readonly tenantHeader: string | undefined,
    private readonly proxies: TrustedProxies | undefined,
  ) {
    this.credential = credentialFrom(input.header("authorization"));
    this.userAgent = input.header("user-agent");
  }

  get ip(): string | undefined {
    if (this.address === null) {
      const input = this.input;
      const list = (name: string) => (input.headerList === undefined ? input.header(name) : input.headerList(name));
      this.address = clientAddressFrom(input.peer, list, this.proxies);
    }
    return this.address;
  }

  /** The transport's, called on it (a transport may give its input methods of a class, not closures). */
  get afterAnswer(): RequestContext["afterAnswer"] {
    const input = this.input;
    return input.afterAnswer === undefined ? undefined : (start: () => void) => input.afterAnswer!(start);
  }

  onIdentified(who: { readonly userId: string }): void {
    this.facts.userId = who.userId;
  }
}

export function createCallEnvelope(observer: CallObserver, options: CallEnvelopeOptions = {}): CallEnvelope {
  const { interceptors = [], tracer, trustedProxies } = options;
  const end = (call: Call, error?: AuthError) => {
    observeCallEnd(observer, call.facts, call.startedAt, error);
    call.span?.end({ error, httpStatus: call.input.http?.status(error) });
  };
  return {
    open(input) {
      const requestId = requestIdFrom(input.header("x-request-id"));
      const tenant = tenantFrom(input.header("x-tenant"));
      const facts: CallFacts = { transport: input.transport, rpc: input.name, requestId, tenant };
      const span = tracer?.start(input, facts);
      if (span !== undefined) facts.traceId = span.traceId;
      const ctx = new CallContext(input, facts, tenant, trustedProxies);
      return {
        input,
        requestId,
        ctx,
        facts,
        responseHeaders: { "x-request-id": requestId, "cache-control": "no-store" },
        startedAt: input.startedAt ?? performance.now(),
        span,
      };
    },
    async run(call, handler) {
      let next = handler;
      for (let i = interceptors.length - 1; i >= 0; i--) next = interceptors[i]!(next);
      try {
        const result = await (call.span === undefined ? next(call) : call.span.run(() => next(call)));
        end(call);
        return result;
      } catch (thrown) {
        const error = toAuthError(thrown ?? new Error("a handler rejected without a reason"));
        end(call, error);
        throw error;
      }
    },
    fail(call, thrown) {
      const error = toAuthError(thrown);
      end(call, error);
      return error;
    },
  };
}

/**
 * Translates "PostgreSQL cannot be reached" into `AuthError("UNAVAILABLE")` at the one place every
 * query passes: the Kysely driver (which is also where tracing sees each query, `QueryObserver`). SQL mistakes and constraint violations pass through unchanged,
 * so they stay INTERNAL or are mapped by the repository that expects them.
 */
import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from "kysely";
import { AuthError } from "../../domain/errors.js";
import { hasNetworkErrorCode } from "../network-errors.js";

/** Whether an error from pg means the server is unreachable or going away, rather than a bad query. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (hasNetworkErrorCode(error)) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    // SQLSTATE classes 08 (connection exception), 53 (insufficient resources), 57P0x (shutdown).
    if (/^(08|53)/.test(code) || /^57P0[1-4]$/.test(code)) return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|connect ECONNREFUSED/i.test(
    error.message,
  );
}

/** Wraps a dialect so that its driver reports an unreachable database as UNAVAILABLE (and tells `onUnavailable`). */
/**
 * Sees every query run: calls `execute` (the query) and returns what it returns. The service's
 * tracing passes one that wraps the query in a span (src/tracing/); nothing does otherwise.
 */
export type QueryObserver = <R>(query: CompiledQuery, execute: () => Promise<QueryResult<R>>) => Promise<QueryResult<R>>;

export class UnavailableTranslatingDialect implements Dialect {
  constructor(
    private readonly inner: Dialect,
    private readonly onUnavailable: () => void = () => {},
    private readonly observe?: QueryObserver,
  ) {}
  createAdapter(): DialectAdapter {
    return this.inner.createAdapter();
  }
  createDriver(): Driver {
    const onUnavailable = this.onUnavailable;
    const translate = (error: unknown): never => {
      if (isDatabaseUnavailable(error)) {
        onUnavailable();
        throw new AuthError("UNAVAILABLE", { cause: error });
      }
      throw error;
    };
    return new TranslatingDriver(this.inner.createDriver(), translate, this.observe);
  }
  createQueryCompiler(): QueryCompiler {
    return this.inner.createQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return this.inner.createIntrospector(db);
  }
}

type Translate = (error: unknown) => never;

class TranslatingConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly translate: Translate,
    private readonly observe: QueryObserver | undefined,
  ) {}
  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.observe === undefined) return this.inner.executeQuery<R>(query).catch(this.translate);
    return this.observe(query, () => this.inner.executeQuery<R>(query).catch(this.translate));
  }
  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

const unwrap = (connection: DatabaseConnection): DatabaseConnection =>
  connection instanceof TranslatingConnection ? connection.inner : connection;

class TranslatingDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly translate: Translate,
    private readonly observe: QueryObserver | undefined,
  ) {}
  init(): Promise<void> {
    return this.inner.init().catch(this.translate);
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new TranslatingConnection(await this.inner.acquireConnection().catch(this.translate), this.translate, this.observe);
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(unwrap(connection), settings).catch(this.translate);
  }
  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(unwrap(connection)).catch(this.translate);
  }
  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(unwrap(connection)).catch(this.translate);
  }
  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(connection));
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

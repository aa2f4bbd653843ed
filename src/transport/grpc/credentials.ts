/**
 * The gRPC port's credentials: insecure (h2c) without TLS_CERT_FILE, otherwise TLS with ALPN h2
 * from the service's key pair, renewed in place when the files change. grpc-js's own
 * `ServerCredentials.createSsl` takes a fixed pair and no server options; this subclass of its
 * exported base class gives the TLS handshake the headers timeout (Node's default is 120 s) and
 * passes a renewed pair to grpc-js's servers through the base class's update mechanism.
 */
import * as grpc from "@grpc/grpc-js";
import type { KeyPair, TlsMaterial } from "../listeners.js";

class RenewableServerCredentials extends grpc.ServerCredentials {
  constructor(pair: KeyPair, handshakeTimeoutMs: number) {
    // Constructor options go to http2.createSecureServer; context options to its secure context.
    super({ handshakeTimeout: handshakeTimeoutMs, requestCert: false }, { cert: pair.cert, key: pair.key });
  }

  renew(pair: KeyPair): void {
    this.updateSecureContextOptions({ cert: pair.cert, key: pair.key });
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** Credentials for the gRPC port: TLS from `tls` (renewed with it), or insecure. */
export function grpcCredentials(tls: TlsMaterial | undefined, handshakeTimeoutMs: number): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  const credentials = new RenewableServerCredentials(tls.current(), handshakeTimeoutMs);
  tls.onChange((pair) => credentials.renew(pair));
  return credentials;
}

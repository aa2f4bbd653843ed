/**
 * The client address of a call (transport/call/context.ts): the socket peer, or what trusted
 * proxies forwarded, right-most untrusted hop first; forwarding headers from anyone else are
 * ignored, and hostile values never become an address.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { clientAddressFrom, normalizeAddress, trustedProxies } from "../../src/transport/call/context.js";

function proxies(list: string, header?: string) {
  const config = loadConfig({ TRUSTED_PROXIES: list, ...(header === undefined ? {} : { CLIENT_ADDRESS_HEADER: header }) });
  return trustedProxies(config.clientAddress);
}

const headers = (values: Record<string, string>) => (name: string) => values[name];

describe("the client address", () => {
  const trusted = proxies("127.0.0.1/32, 10.0.0.0/8, fd00::/8");

  it("is the peer when no proxy is trusted, whatever the headers say", () => {
    expect(clientAddressFrom("203.0.113.5", headers({ "x-forwarded-for": "198.51.100.1" }), undefined)).toBe("203.0.113.5");
    expect(proxies("")).toBeUndefined();
  });

  it("ignores a forwarding header from a peer that is not a trusted proxy", () => {
    expect(clientAddressFrom("203.0.113.5", headers({ "x-forwarded-for": "198.51.100.1" }), trusted)).toBe("203.0.113.5");
  });

  it("takes the right-most address that is not a trusted proxy", () => {
    const spoofed = "1.1.1.1, 198.51.100.7, 10.1.2.3";
    expect(clientAddressFrom("127.0.0.1", headers({ "x-forwarded-for": spoofed }), trusted)).toBe("198.51.100.7");
    expect(clientAddressFrom("::ffff:127.0.0.1", headers({ "x-forwarded-for": "198.51.100.7" }), trusted)).toBe("198.51.100.7");
    // Every hop trusted: the left-most.
    expect(clientAddressFrom("127.0.0.1", headers({ "x-forwarded-for": "10.0.0.9" }), trusted)).toBe("10.0.0.9");
    // No header: the proxy itself.
    expect(clientAddressFrom("127.0.0.1", headers({}), trusted)).toBe("127.0.0.1");
  });

  it("reads IPv6 hops, with or without brackets and ports", () => {
    expect(clientAddressFrom("fd00::1", headers({ "x-forwarded-for": "[2001:DB8::7]:443" }), trusted)).toBe("2001:db8::7");
    expect(clientAddressFrom("127.0.0.1", headers({ "x-forwarded-for": "2001:db8::8, fd12::1" }), trusted)).toBe("2001:db8::8");
  });

  it("stops at the last trusted hop when an entry is not an address", () => {
    for (const junk of ["unknown", "_hidden", "", "2001:db8::1\u0000", "x".repeat(300), "1.2.3.4.5"]) {
      expect(clientAddressFrom("127.0.0.1", headers({ "x-forwarded-for": `198.51.100.1, ${junk}, 10.0.0.2` }), trusted)).toBe("10.0.0.2");
    }
  });

  it("reads only the header the proxies write", () => {
    const forwarded = proxies("127.0.0.1", "forwarded");
    const values = {
      forwarded: 'for=198.51.100.1;proto=https, for="[2001:db8:cafe::17]:4711";by=127.0.0.1',
      "x-forwarded-for": "192.0.2.99",
    };
    expect(clientAddressFrom("127.0.0.1", headers(values), forwarded)).toBe("2001:db8:cafe::17");
    // A client's own Forwarded passes through a proxy that appends to X-Forwarded-For: never read then.
    expect(clientAddressFrom("127.0.0.1", headers(values), proxies("127.0.0.1"))).toBe("192.0.2.99");
    expect(clientAddressFrom("127.0.0.1", headers({ forwarded: "for=unknown" }), forwarded)).toBe("127.0.0.1");
  });

  it("normalizes what sockets and proxies write", () => {
    expect(normalizeAddress("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(normalizeAddress("192.0.2.1:8080")).toBe("192.0.2.1");
    expect(normalizeAddress("FE80::1%eth0")).toBe("fe80::1");
    expect(normalizeAddress("192.0.2.1 ")).toBe("192.0.2.1");
    expect(normalizeAddress("example.com")).toBeUndefined();
    expect(normalizeAddress(undefined)).toBeUndefined();
  });

  it("refuses a TRUSTED_PROXIES entry that is not a CIDR, naming the variable", () => {
    for (const bad of ["10.0.0.0/33", "fd00::/129", "proxy.internal", "10.0.0.0/8/1", "10.0.0.0/x"]) {
      expect(() => loadConfig({ TRUSTED_PROXIES: bad })).toThrow(/TRUSTED_PROXIES/);
    }
    expect(() => loadConfig({ CLIENT_ADDRESS_HEADER: "x-real-ip" })).toThrow(/CLIENT_ADDRESS_HEADER/);
  });
});

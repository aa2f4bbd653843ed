/** Which store errors are outages (UNAVAILABLE, retry later) and which are bugs (INTERNAL). */
import { describe, expect, it } from "vitest";
import { isDatabaseUnavailable } from "../../src/infra/postgres/unavailable.js";
import { isRedisUnavailable } from "../../src/infra/redis/client.js";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("isDatabaseUnavailable", () => {
  it.each([
    withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"),
    new Error("Connection terminated unexpectedly"),
    new Error("timeout exceeded when trying to connect"),
    withCode("terminating connection due to administrator command", "57P01"),
    withCode("the database system is starting up", "57P03"),
    withCode("connection failure", "08006"),
    withCode("too many connections for role", "53300"),
  ])("calls %s an outage", (error) => expect(isDatabaseUnavailable(error)).toBe(true));

  it.each([
    withCode('relation "users" does not exist', "42P01"),
    withCode("duplicate key value violates unique constraint", "23505"),
    withCode("invalid input syntax for type uuid", "22P02"),
    "a string",
  ])("calls %s a bug", (error) => expect(isDatabaseUnavailable(error)).toBe(false));
});

describe("isRedisUnavailable", () => {
  it.each([
    new Error("Connection is closed."),
    new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    new Error("Command timed out"),
    // A pipeline (a session write and its WAIT) cut by a connection closed halfway.
    Object.assign(new Error("Command aborted due to connection close"), { name: "AbortError" }),
    withCode("connect ECONNREFUSED 127.0.0.1:6379", "ECONNREFUSED"),
    Object.assign(new Error("Reached the max retries per request limit"), { name: "MaxRetriesPerRequestError" }),
    new Error("LOADING Redis is loading the dataset in memory"),
    // A Cluster during a failover, or without a usable slot map.
    new Error("CLUSTERDOWN The cluster is down"),
    new Error("CLUSTERDOWN Hash slot not served"),
    new Error("TRYAGAIN Multiple keys request during rehashing of slot"),
    new Error("Too many Cluster redirections. Last error: Error: MOVED 3999 127.0.0.1:6381"),
    Object.assign(new Error("Failed to refresh slots cache."), { name: "ClusterAllFailedError" }),
    new Error("None of startup nodes is available"),
    new Error("Cluster isn't ready and enableOfflineQueue options is false"),
    // A Sentinel group during a failover: the demoted master, no sentinel, no replica in time.
    new Error("READONLY You can't write against a read only replica."),
    new Error("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
    new Error("All sentinels are unreachable. Retrying from scratch after 100ms."),
    new Error("NOREPLICAS Not enough good replicas to write."),
    new Error("WAITREPLICAS 0 of 1 replica(s) acknowledged the write within 1000 ms"),
  ])("calls %s an outage", (error) => expect(isRedisUnavailable(error)).toBe(true));

  it.each([
    Object.assign(new Error("ERR Error running script"), { name: "ReplyError" }),
    new Error("Error trying to loading or executing lua code string in VM: bad argument"),
    new Error("WRONGTYPE Operation against a key holding the wrong kind of value"),
    // Keys of one operation in several slots: a bug in the key layout, never retried away.
    new Error("CROSSSLOT Keys in request don't hash to the same slot"),
    new Error("ERR Script attempted to access a non local key in a cluster node"),
    new Error("All keys in the pipeline should belong to the same slots allocation group"),
  ])("calls %s a bug", (error) => expect(isRedisUnavailable(error)).toBe(false));
});

/**
 * The Redis Cluster slot of a key, for the tests: the service's own computation
 * (src/infra/redis/key-slot.ts), which test/integration/key-slot.test.ts checks against what a
 * real Cluster answers (CLUSTER KEYSLOT), so the tests do not keep a second copy of CRC16.
 */
export { keySlot as clusterSlot } from "../../src/infra/redis/key-slot.js";

/**
 * What instances announce to each other over Redis pub/sub (infra/redis/pubsub.ts), heard here: a
 * key rotation (`cli keys rotate`) reloads the key ring, a change of roles or permissions forgets
 * the cached grants it concerns. A real Redis only, on any topology: the embedded stand-in serves
 * one process, which applies its own changes directly. After a subscription was interrupted,
 * an announcement may have been missed: the ring is reloaded and every cached grant forgotten.
 */
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { KeyRing } from "../infra/crypto/key-ring.js";
import { keyRotationChannel } from "../infra/crypto/key-setup.js";
import { type GrantsCache, grantsChannel } from "../infra/grants.js";
import type { RedisHooks } from "../infra/redis/client.js";
import { type Subscription, subscribe } from "../infra/redis/pubsub.js";

/** Connection errors are reported by the main connection's listener; only outages are counted here. */
const quiet = (hooks: RedisHooks): RedisHooks => ({ onError: () => {}, onUnavailable: hooks.onUnavailable });

/** Reloads the key ring on a rotation (the ring also polls every KEY_RELOAD_INTERVAL). */
export async function listenForKeyRotations(
  config: Config,
  ring: KeyRing,
  logger: Logger,
  hooks: RedisHooks,
): Promise<Subscription | undefined> {
  if (config.jwt.keySource !== "ring" || config.embedded.redis) return undefined;
  const reload = () =>
    ring.reload().then(
      () => logger.info({ kid: ring.signer().kid }, "signing key ring reloaded after a rotation"),
      (error: unknown) => logger.warn({ err: error }, "could not reload the signing key ring"),
    );
  return subscribe(config.redis, keyRotationChannel(config.redisKeyPrefix), reload, quiet(hooks), { onResubscribed: reload });
}

/** Forgets cached grants when another instance announces a change (entries also expire after GRANTS_CACHE_TTL). */
export async function listenForGrantChanges(config: Config, grants: GrantsCache, hooks: RedisHooks): Promise<Subscription | undefined> {
  if (config.embedded.redis) return undefined;
  return subscribe(config.redis, grantsChannel(config.redisKeyPrefix), (message) => grants.apply(message), quiet(hooks), {
    onResubscribed: () => grants.clear(),
  });
}

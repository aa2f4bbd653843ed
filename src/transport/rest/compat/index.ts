/** The seed-compatible routes, per seed API; COMPAT_ROUTES chooses which are served. */

import type { Seed } from "../../../config.js";
import type { HttpRoute } from "../../http/router.js";
import type { CompatOptions } from "./common.js";
import { solicitudRoutes } from "./solicitud.js";
import { ucontactRoutes } from "./ucontact.js";
import { vidaPlusRoutes } from "./vidaplus.js";
import { vigiaRoutes } from "./vigia.js";

const bySeed = {
  vidaplus: vidaPlusRoutes,
  vigia: vigiaRoutes,
  solicitud: solicitudRoutes,
  ucontact: ucontactRoutes,
} as const satisfies Record<Seed, (options: CompatOptions) => HttpRoute[]>;

export function compatRoutes(seeds: readonly Seed[], options: CompatOptions): HttpRoute[] {
  return seeds.flatMap((seed) => bySeed[seed](options));
}

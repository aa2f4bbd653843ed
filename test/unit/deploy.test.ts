/**
 * deploy/kubernetes: every manifest is valid against the Kubernetes API's schemas (the validators
 * `kubernetes-models` generates from them, offline), the pieces refer to each other correctly, and
 * the environment a pod gets passes the service's own configuration rules.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/config.js";

const dir = join(import.meta.dirname, "..", "..", "deploy", "kubernetes");
const models = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
} as const;

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: any };
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
const manifests: Manifest[] = files.flatMap((f) =>
  // YAML 1.1, as Kubernetes reads it (0440 is octal there).
  parseAllDocuments(readFileSync(join(dir, f), "utf8"), { version: "1.1" }).map((d) => d.toJS() as Manifest),
);
const find = (kind: string) => {
  const found = manifests.find((m) => m.kind === kind);
  if (found === undefined) throw new Error(`no ${kind} in deploy/kubernetes`);
  return found;
};

describe("the Kubernetes manifests", () => {
  it("are all listed in the kustomization", () => {
    const kustomization = parse(readFileSync(join(dir, "kustomization.yaml"), "utf8")) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual([...files].sort());
  });

  it.each(manifests.map((m) => [`${m.kind} ${m.metadata.name}`, m] as const))("%s is valid against the API schema", (_, manifest) => {
    const Model = models[`${manifest.apiVersion}/${manifest.kind}` as keyof typeof models];
    expect(Model, `${manifest.apiVersion} ${manifest.kind} has no validator here`).toBeDefined();
    expect(() => new Model(manifest as any).validate()).not.toThrow();
  });

  it("validation can fail: a wrong type is refused", () => {
    const deployment = structuredClone(find("Deployment"));
    deployment.spec.template.spec.containers[0].ports[0].containerPort = "8080";
    expect(() => new Deployment(deployment as any).validate()).toThrow(/containerPort must be integer/);
  });

  const deployment = find("Deployment");
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const configMap = find("ConfigMap");

  it("probes readiness on /readyz and liveness on /healthz over HTTP, and start-up over gRPC health", () => {
    const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    expect(ports).toEqual({
      http: Number(configMap.data.HTTP_PORT),
      grpc: Number(configMap.data.GRPC_PORT),
      metrics: Number(configMap.data.METRICS_PORT),
    });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.startupProbe.grpc.port).toBe(ports.grpc);
  });

  it("runs non-root on a read-only root filesystem, with resources set", () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toEqual(expect.any(String));
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it("serves metrics on the pod's own port for scrapers inside the cluster, and never through the Service", () => {
    expect(configMap.data.METRICS_HOST).toBe("0.0.0.0");
    const servicePorts = find("Service").spec.ports.map((p: { port: number }) => p.port);
    expect(servicePorts).not.toContain(Number(configMap.data.METRICS_PORT));
    expect(servicePorts.sort()).toEqual([Number(configMap.data.HTTP_PORT), Number(configMap.data.GRPC_PORT)].sort());
  });

  it("selects its pods alike in the Deployment, the Service and the PodDisruptionBudget", () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    expect(find("Service").spec.selector).toEqual(labels);
    expect(find("PodDisruptionBudget").spec.selector.matchLabels).toEqual(labels);
    expect(deployment.spec.replicas).toBeGreaterThan(find("PodDisruptionBudget").spec.maxUnavailable);
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }]);
  });

  it("takes secrets only by reference: mounted files read through NAME_FILE, none in the manifests", () => {
    expect(manifests.some((m) => m.kind === "Secret")).toBe(false);
    const secretsVolume = pod.volumes.find((v: { secret?: unknown }) => v.secret !== undefined);
    expect(secretsVolume.secret.defaultMode).toBe(0o440);
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === secretsVolume.name);
    expect(mount.readOnly).toBe(true);
    const files = secretsVolume.secret.items.map((i: { path: string }) => `${mount.mountPath}/${i.path}`).sort();
    const env: { name: string; value?: string; valueFrom?: unknown }[] = container.env;
    expect(env.every((e) => e.name.endsWith("_FILE"))).toBe(true);
    expect(env.map((e) => e.value).sort()).toEqual(files);
    for (const secretName of ["DATABASE_URL", "REDIS_URL", "SMTP_URL", "KEY_ENCRYPTION_KEY", "JWT_SECRET", "ADMIN_PASSWORD"]) {
      expect(Object.keys(configMap.data)).not.toContain(secretName);
    }
  });

  it("gives the pods an environment the service accepts: PUBLIC_URL and SMTP with the database, and the key ring's key", () => {
    const env: Record<string, string> = { ...configMap.data };
    for (const e of container.env as { name: string; value: string }[]) env[e.name] = e.value;
    const example: Record<string, string> = {
      "database-url": "postgres://auth:pw@postgres:5432/auth\n",
      "redis-url": "redis://redis:6379\n",
      "smtp-url": "smtp://mail:587\n",
      "key-encryption-key": `${Buffer.alloc(32, 1).toString("base64")}\n`,
    };
    const config = loadConfig(env, { readFile: (path) => example[path.split("/").at(-1) ?? ""] ?? "" });
    expect(config.embedded).toEqual({ database: false, redis: false });
    expect(config.publicUrl).toBe(configMap.data.PUBLIC_URL);
    expect(config.smtpUrl).toBe("smtp://mail:587");
    expect(config.jwt.keySource).toBe("ring");
    expect(config.workers).toBe(1);
    // The pod's grace period covers the preStop pause and the service's own shutdown.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      container.lifecycle.preStop.sleep.seconds * 1000 + config.shutdownTimeoutMs + 2000,
    );
  });
});

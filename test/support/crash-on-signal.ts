/**
 * Loaded into the service's processes by tests only (`node --import tsx --import <this file>
 * src/main.ts`; cluster workers inherit it): SIGUSR2 makes the process throw an exception nobody
 * catches, SIGHUP makes it reject a promise nobody handles. The service has no such hook itself.
 */
process.on("SIGUSR2", () => {
  throw new Error("crash requested by the test (SIGUSR2)");
});
process.on("SIGHUP", () => {
  void Promise.reject(new Error("rejection requested by the test (SIGHUP)"));
});

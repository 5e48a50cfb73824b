// What this server offers (engine, tasks it accepts, optional APIs), from /console/config.json.
// Asked once per page load; it needs no key. On any failure the page assumes nothing optional.

let cached = null;

export function config() {
  if (!cached) {
    cached = fetch("/console/config.json", { cache: "no-store", credentials: "omit" })
      .then((r) => (r.ok ? r.json() : {}))
      .catch(() => {
        cached = null;
        return {};
      });
  }
  return cached;
}

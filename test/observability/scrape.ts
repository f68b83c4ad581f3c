// Scraping the listener's --metrics server as Prometheus would: GET over loopback, the body
// parsed by a Prometheus text-format parser (parse-prometheus-text-format), samples looked up by
// name and exact labels.
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';

export interface Scrape {
  status: number;
  contentType: string;
  families: Map<string, PrometheusFamily>;
}

export async function get(base: string, path: string, init: RequestInit = {}) {
  const response = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(5_000) });
  const body = await response.text();
  return { status: response.status, headers: response.headers, body };
}

export async function scrape(base: string): Promise<Scrape> {
  const { status, headers, body } = await get(base, '/metrics');
  const families = new Map(parsePrometheusTextFormat(body).map((family) => [family.name, family]));
  return { status, contentType: headers.get('content-type') ?? '', families };
}

/** The value of the sample of `name` with exactly `labels`; undefined when there is none. */
export function sample(
  families: Map<string, PrometheusFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = families
    .get(name)
    ?.metrics.find((m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()) === want);
  return found?.value === undefined ? undefined : Number(found.value);
}

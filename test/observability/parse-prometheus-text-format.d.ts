// Types for parse-prometheus-text-format (it ships none): the prom2json shape it returns.
declare module 'parse-prometheus-text-format' {
  export interface PrometheusSample {
    /** counters, gauges, untyped */
    value?: string;
    labels?: Record<string, string>;
    /** histograms: upper bound → cumulative count */
    buckets?: Record<string, string>;
    /** summaries */
    quantiles?: Record<string, string>;
    count?: string;
    sum?: string;
  }

  export interface PrometheusFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: PrometheusSample[];
  }

  export default function parsePrometheusTextFormat(text: string): PrometheusFamily[];
}

import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The service's Prometheus metrics, on a registry of its own (never the global one, so
 * two services in one process, as in tests, do not collide). Labels are route templates,
 * methods, status codes, roles and actions: never ids, tokens or content.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'session_vault_http_requests_total', help: 'HTTP requests by route template, method and status', labelNames: ['route', 'method', 'status'] as const, registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'session_vault_http_request_duration_seconds',
    help: 'HTTP request latency by route template and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly appendedEvents = new Counter({ name: 'session_vault_appended_events_total', help: 'events appended and committed', registers: [this.registry] });
  readonly appends = new Counter({ name: 'session_vault_appends_total', help: 'append calls by outcome (committed, deduplicated, refused)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly appendLatency = new Histogram({
    name: 'session_vault_append_duration_seconds',
    help: 'time from a valid append request to its commit',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly verifyFailures = new Counter({ name: 'session_vault_verify_problems_total', help: 'integrity problems reported by verify requests', registers: [this.registry] });
  readonly accessRecords = new Counter({ name: 'session_vault_access_records_total', help: 'operator accesses recorded in the access trail through the service, by action family', labelNames: ['action'] as const, registers: [this.registry] });
  readonly authFailures = new Counter({ name: 'session_vault_auth_failures_total', help: 'requests refused for a missing or bad token (401) or a role or tenant it lacks (403)', labelNames: ['status'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'session_vault_' });
  }
}

import type { TSchema } from '@sinclair/typebox';
import { allAuditRoutes, auditSecured } from './audit.ts';
import { ErrorBody } from './common.ts';
import { allConsoleAuthRoutes, allConsoleRoutes, CONSOLE_API_PREFIX } from './console.ts';
import type { RouteDefinition } from './define-route.ts';
import { allPlannerRoutes, PLANNER_PREFIX } from './planner.ts';
import { allGitWatcherRoutes, allRegistryWatcherRoutes, HOOKS_PREFIX } from './watchers.ts';

/** TypeBox adds symbol keys only; JSON drops them. A plain copy is what OpenAPI readers see. */
const plain = (s: TSchema): object => JSON.parse(JSON.stringify(s));

const pathOf = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function operation(r: RouteDefinition, tag: string, secured: boolean): object {
  const params = Object.entries(r.params?.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'path',
    required: true,
    schema: plain(schema as TSchema),
  }));
  const query = Object.entries(r.querystring?.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: (r.querystring?.required ?? []).includes(name),
    schema: plain(schema as TSchema),
  }));
  const headers = Object.entries(r.headers?.properties ?? {}).map(([name, schema]) => {
    const { description, ...rest } = plain(schema as TSchema) as { description?: string };
    return {
      name: name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => `${dash}${c.toUpperCase()}`),
      in: 'header',
      required: (r.headers?.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
  const parameters = [...params, ...query, ...headers];
  return {
    tags: [tag],
    summary: r.summary,
    ...(secured ? { security: [{ bearer: [] }] } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(r.body
      ? { requestBody: { required: false, content: { 'application/json': { schema: plain(r.body) } } } }
      : {}),
    responses: Object.fromEntries(
      Object.entries(r.responses).map(([status, res]) => [
        status,
        {
          description: res.description,
          ...(res.schema
            ? { content: { [res.mediaType ?? 'application/json']: { schema: plain(res.schema) } } }
            : {}),
        },
      ]),
    ),
  };
}

function addRoutes(
  paths: Record<string, Record<string, object>>,
  routes: RouteDefinition[],
  prefix: string,
  tag: string,
  secured: (r: RouteDefinition) => boolean,
): void {
  for (const r of routes) {
    const path = `${prefix}${pathOf(r.url)}`;
    paths[path] ??= {};
    (paths[path] as Record<string, object>)[r.method.toLowerCase()] = operation(r, tag, secured(r));
  }
}

/**
 * One OpenAPI 3.1 document for Flotilla's HTTP APIs, generated from the route definitions the
 * services register (libs/api/openapi.json; `npm run openapi:check -w @flotilla/api` catches drift).
 * The planner and the audit-writer are separate servers: each path says which under its tag.
 */
export function openApiDocument(): object {
  const paths: Record<string, Record<string, object>> = {};
  addRoutes(paths, allPlannerRoutes(), PLANNER_PREFIX, 'planner', () => true);
  addRoutes(paths, allAuditRoutes(), '', 'audit-writer', auditSecured);
  // The two watchers both serve /hooks/generic: one document cannot hold both, so it is tagged by
  // watcher under a path that names it (the real path drops the watcher segment).
  addRoutes(paths, allGitWatcherRoutes(), `/git-watcher${HOOKS_PREFIX}`, 'git-watcher', () => false);
  addRoutes(
    paths,
    allRegistryWatcherRoutes(),
    `/registry-watcher${HOOKS_PREFIX}`,
    'registry-watcher',
    () => false,
  );
  // The console serves the page's own API beside its page; listed under /console like the watchers.
  addRoutes(paths, allConsoleAuthRoutes(), '/console', 'console', () => false);
  addRoutes(paths, allConsoleRoutes(), `/console${CONSOLE_API_PREFIX}`, 'console', () => false);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Flotilla HTTP APIs',
      version: '1',
      description:
        'The planner API (`/api/v1`) and the audit-writer query API, both with bearer tokens and roles. ' +
        'Every service also serves /healthz, /readyz and /metrics. Webhook receivers are listed under ' +
        '/git-watcher/hooks/… and /registry-watcher/hooks/…; each watcher serves them at /hooks/…. The ' +
        "console's page API (session cookie, CSRF token) is under /console/…; it serves it at /auth/… and /api/….",
    },
    tags: [
      { name: 'planner', description: 'services/planner: status, approvals, locks, rollbacks, history' },
      {
        name: 'audit-writer',
        description: 'services/audit-writer: the audit log, what runs where, export, verify',
      },
      { name: 'console', description: "services/console: sign-in and the page's API" },
    ],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { ErrorBody: plain(ErrorBody) },
    },
    paths,
  };
}

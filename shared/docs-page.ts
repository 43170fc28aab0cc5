/** Swagger UI, served from the `swagger-ui-dist` package: the docs page needs no CDN. */
const ASSETS: Record<string, { file: string; type: string }> = {
  "swagger-ui.css": { file: "swagger-ui-dist/swagger-ui.css", type: "text/css; charset=utf-8" },
  "swagger-ui-bundle.js": {
    file: "swagger-ui-dist/swagger-ui-bundle.js",
    type: "text/javascript; charset=utf-8",
  },
};

/** The names `docsAsset` serves. */
export const DOCS_ASSETS = Object.keys(ASSETS);

/** The interactive docs page for the OpenAPI document at `openapi.json` next to it. */
export function docsPage(title: string): string {
  const safeTitle = title.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  // Relative URLs, so the page also works behind a proxy that serves the API under a prefix.
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${safeTitle}</title>
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
  <div id="docs"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "openapi.json", dom_id: "#docs", deepLinking: true });
  </script>
</body>
</html>
`;
}

/** One of the page's static files, or undefined for a name it does not have. */
export function docsAsset(name: string): Response | undefined {
  // Own names only: `constructor` and the like are the object's, not files.
  if (!Object.hasOwn(ASSETS, name)) return undefined;
  const asset = ASSETS[name] as { file: string; type: string };
  return new Response(Bun.file(Bun.resolveSync(asset.file, import.meta.dir)), {
    headers: { "content-type": asset.type, "cache-control": "public, max-age=86400" },
  });
}

// The console's only way to the data: the public API, with the bearer token from sign-in.
// The token is kept in this module's memory and nowhere else.

import { t } from "./i18n.js";

let token = null;
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || t("app.httpError", { status }));
    this.status = status;
    this.problem = problem;
  }
}

export function signedIn() {
  return token !== null;
}

export function whenSignedOut(callback) {
  onSignedOut = callback;
}

function url(path, query) {
  const target = new URL(`/api/v1${path}`, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) target.searchParams.append(name, item);
  }
  return target;
}

async function send(method, path, { json, query, accept = "application/json", headers: extra = {} } = {}) {
  const headers = { Accept: accept, ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url(path, query), {
      method, headers, body: json === undefined ? undefined : JSON.stringify(json),
      credentials: "omit", cache: "no-store",
    });
  } catch {
    throw new ApiError(0, { detail: t("app.networkError") });
  }
  if (response.status === 401 && token) {
    token = null;
    onSignedOut();
  }
  if (!response.ok) {
    let problem = {};
    try { problem = await response.json(); } catch { /* not JSON: the status says enough */ }
    throw new ApiError(response.status, problem);
  }
  return response;
}

export async function request(method, path, options = {}) {
  const response = await send(method, path, options);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, query) => request("GET", path, { query });
export const post = (path, json, headers) => request("POST", path, { json, headers });
export const patch = (path, json) => request("PATCH", path, { json });

export async function blob(path, query, accept = "*/*") {
  const response = await send("GET", path, { query, accept });
  return response.blob();
}

export async function signIn(username, password, code) {
  const issued = await request("POST", "/auth/token", { json: { username, password, code: code || undefined } });
  return adopt(issued.access_token);
}

// Takes a token the service issued elsewhere (single sign-on hands it over in the URL fragment).
export async function adopt(issuedToken) {
  token = issuedToken;
  try {
    return await get("/auth/me");
  } catch (failure) {
    await signOut().catch(() => { token = null; });
    throw failure;
  }
}

// Forgets the token whatever happens; rejects if the server did not revoke it.
export async function signOut() {
  if (!token) return;
  try {
    await request("DELETE", "/auth/token");
  } finally {
    token = null;
  }
}

export function problemText(error) {
  if (!(error instanceof ApiError)) return String(error.message || error);
  const problem = error.problem || {};
  const parts = [problem.detail || problem.title || error.message];
  for (const [name, reasons] of Object.entries(problem.errors || {})) {
    parts.push(`${name}: ${flatten(reasons)}`);
  }
  return parts.join(" — ");
}

function flatten(reasons) {
  if (Array.isArray(reasons)) return reasons.map(flatten).join(" ");
  if (reasons && typeof reasons === "object") {
    return Object.entries(reasons).map(([name, inner]) => `${name}: ${flatten(inner)}`).join("; ");
  }
  return String(reasons);
}

// The stable code of a problem (its type's last segment), e.g. "second-factor-required".
export function problemCode(error) {
  return ((error && error.problem && error.problem.type) || "").split("/").pop();
}

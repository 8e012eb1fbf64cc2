// Shared by the run list and the review page: the server puts it into each page's one inline script (at the
// page's common.js marker), so the Content-Security-Policy allows exactly that script by its hash.
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const withToken = token ? "#token=" + encodeURIComponent(token) : "";

function api(path, options = {}) {
  const headers = Object.assign({"Content-Type": "application/json"}, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  return fetch(path, Object.assign({}, options, {headers})).then(async response => {
    const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
    if (!response.ok) throw new Error((body && body.detail) ? JSON.stringify(body.detail) : response.statusText);
    return body;
  });
}
function el(tag, attrs = {}, ...children) {   // text is always set as text, never as HTML
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) k === "class" ? node.className = v : node.setAttribute(k, v);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
function say(text) { document.getElementById("message").textContent = text || ""; }
function percent(share) { return share === null || share === undefined ? "–" : `${(100 * share).toFixed(1)}%`; }
function reviewUrl(name) { return `/review/${encodeURIComponent(name)}${withToken}`; }

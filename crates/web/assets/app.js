// The chat's script, an ES module loaded by every page (no inline script: the CSP forbids it).
// Scripts send the page's CSRF token with every state change.

/** The token of `<meta name="csrf-token">`. */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : '';
}

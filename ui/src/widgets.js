// Small pieces every view uses.
import { html } from "htm/preact";

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert">
    <strong>${error.message}</strong>
    ${error.detail && error.detail !== error.message ? html`<div class="detail">${error.detail}</div>` : null}
    ${error.hint ? html`<div class="hint">${error.hint}</div>` : null}
  </div>`;
}


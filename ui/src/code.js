// Highlighted code: highlight.js core with the few languages the console
// shows.  Its output is escaped text in <span class="hljs-…">: no inline
// style, so the CSP holds.
import hljs from "highlight.js/lib/core";
import python from "highlight.js/lib/languages/python";
import markdown from "highlight.js/lib/languages/markdown";
import json from "highlight.js/lib/languages/json";
import sql from "highlight.js/lib/languages/sql";
import { html } from "htm/preact";

hljs.registerLanguage("python", python);
hljs.registerLanguage("markdown", markdown);
hljs.registerLanguage("json", json);
hljs.registerLanguage("sql", sql);

export function Code({ text, lang, id }) {
  const out = hljs.highlight(text || "", { language: lang, ignoreIllegals: true }).value;
  return html`<pre class="code" id=${id} tabindex="0"><code class=${`hljs language-${lang}`}
    dangerouslySetInnerHTML=${{ __html: out }}></code></pre>`;
}

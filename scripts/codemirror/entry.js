// The console's code editor: CodeMirror 6 with the languages of text assets and functions.
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";
import { html } from "@codemirror/lang-html";
import { css } from "@codemirror/lang-css";
import { javascript } from "@codemirror/lang-javascript";
import { json } from "@codemirror/lang-json";
import { xml } from "@codemirror/lang-xml";

const LANGUAGES = { html, css, javascript, json, xml };

// The console's look, in the editor's own stylesheet (the page's CSS does not reach into the shadow root).
const theme = EditorView.theme({
  "&": { border: "1px solid #b9c0cc", borderRadius: "6px", backgroundColor: "#fff", fontSize: "0.85rem",
         height: "22rem", resize: "vertical", overflow: "hidden" },
  "&.cm-focused": { outline: "3px solid #0263e0", outlineOffset: "2px" },
  ".cm-scroller": { overflow: "auto", fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" },
  ".cm-gutters": { backgroundColor: "#f4f5f8", color: "#606a7b", borderRight: "1px solid #dde1e8" },
});

// Token colours with at least 4.5:1 contrast on the editor's white and its active-line tint (WCAG
// 1.4.3): CodeMirror's default style has lighter ones.
const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.moduleKeyword, t.operatorKeyword], color: "#8f1e8f" },
  { tag: [t.string, t.special(t.string), t.regexp], color: "#0b6e24" },
  { tag: [t.number, t.bool, t.atom, t.null], color: "#0550ae" },
  { tag: [t.comment, t.lineComment, t.blockComment, t.meta, t.documentMeta, t.processingInstruction], color: "#57606a" },
  { tag: [t.tagName, t.angleBracket], color: "#116329" },
  { tag: [t.attributeName, t.propertyName], color: "#953800" },
  { tag: [t.typeName, t.className, t.definition(t.variableName), t.function(t.variableName)], color: "#0550ae" },
  { tag: t.invalid, color: "#a0111f" },
  { tag: t.link, color: "#0550ae", textDecoration: "underline" },
  { tag: t.heading, fontWeight: "bold" },
  { tag: t.emphasis, fontStyle: "italic" },
  { tag: t.strong, fontWeight: "bold" },
]);

/* Replace a <textarea> by an editor that writes its text back into it on every change, so the
   form posts what the editor shows. The editor lives in a shadow root: there CodeMirror keeps its
   styles in a constructed stylesheet (adoptedStyleSheets) instead of a <style> element, which the
   console's Content-Security-Policy (style-src 'self') would block. Returns the EditorView. */
function attach(textarea, language, readOnly) {
  const host = document.createElement("div");
  host.className = "code-editor";
  const shadow = host.attachShadow({ mode: "open" });
  const extensions = [basicSetup, theme, syntaxHighlighting(highlight), EditorView.lineWrapping,
    EditorView.updateListener.of((u) => { if (u.docChanged) textarea.value = u.state.doc.toString(); }),
    EditorView.contentAttributes.of({ "aria-label": textarea.getAttribute("aria-label") || "Content" })];
  if (LANGUAGES[language]) extensions.push(LANGUAGES[language]());
  if (readOnly) extensions.push(EditorState.readOnly.of(true));
  const view = new EditorView({ doc: textarea.value, extensions, root: shadow, parent: shadow });
  textarea.parentNode.insertBefore(host, textarea);
  textarea.hidden = true;
  return view;
}

window.AssethostEditor = { attach };

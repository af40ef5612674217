// The console's code editor: CodeMirror 6 with the languages of text assets and functions.
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { html } from "@codemirror/lang-html";
import { css } from "@codemirror/lang-css";
import { javascript } from "@codemirror/lang-javascript";
import { json } from "@codemirror/lang-json";
import { xml } from "@codemirror/lang-xml";

const LANGUAGES = { html, css, javascript, json, xml };

/* Replace a <textarea> by an editor that writes its text back into it on every change, so the
   form posts what the editor shows. Returns the EditorView. */
function attach(textarea, language, readOnly) {
  const extensions = [basicSetup, EditorView.lineWrapping,
    EditorView.updateListener.of((u) => { if (u.docChanged) textarea.value = u.state.doc.toString(); }),
    EditorView.contentAttributes.of({ "aria-label": textarea.getAttribute("aria-label") || "Content" })];
  if (LANGUAGES[language]) extensions.push(LANGUAGES[language]());
  if (readOnly) extensions.push(EditorState.readOnly.of(true));
  const view = new EditorView({ doc: textarea.value, extensions });
  textarea.parentNode.insertBefore(view.dom, textarea);
  textarea.hidden = true;
  return view;
}

window.AssethostEditor = { attach };

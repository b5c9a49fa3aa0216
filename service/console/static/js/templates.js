// The reply template picker: the case's line's templates in the case's language, filled in by
// the API, put into a message box at the cursor.

import * as api from "./api.js";
import { h, field } from "./dom.js";
import { t } from "./i18n.js";

// picker(caseId, box, idPrefix, onError) -> an element, hidden until templates have loaded.
export function templatePicker(caseId, box, idPrefix, onError) {
  const chooser = h("select", { id: `${idPrefix}-template` }, h("option", { value: "" }, t("templates.choose")));
  const use = h("button", { type: "button", id: `${idPrefix}-use-template` }, t("templates.use"));
  const wrapper = h("div", { class: "template-picker inline", hidden: true, dataset: { state: "loading" } },
    field(t("templates.label"), chooser), use);
  let templates = [];
  api.get(`/cases/${caseId}/reply-templates`).then((list) => {
    templates = list.items;
    for (const item of templates) chooser.append(h("option", { value: item.id }, item.title));
    wrapper.hidden = templates.length === 0;
    wrapper.dataset.state = "loaded";
  }).catch(onError);
  // A button rather than the select's change event: arrowing through a closed select fires a
  // change for every option passed, which would overwrite the message on the way.
  use.addEventListener("click", () => {
    const chosen = templates.find((item) => String(item.id) === chooser.value);
    if (!chosen) return;
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    box.value = box.value.slice(0, start) + chosen.body + box.value.slice(end);
    box.focus();
    box.setSelectionRange(start + chosen.body.length, start + chosen.body.length);
  });
  return wrapper;
}

//! Collecting every control a form submits, with the value the page rendered and its label, the
//! way a browser builds a form submission.

use super::{attr_lc, collapse, sel, Control, ControlKind};
use scraper::{ElementRef, Html};

/// Every control of `form` in tree order (descendants, and elements elsewhere naming it in
/// their `form` attribute), each with a second string describing submit controls.
pub(super) fn collect(doc: &Html, form: ElementRef) -> Vec<(Control, String)> {
    let form_id = form.attr("id");
    // A form opened inside a table is left empty by the HTML parser, its controls placed after
    // it in the table; browsers still submit them with it (the parser's form pointer). Such a
    // form owns the controls that follow it within its parent, up to the next form.
    let detached = form
        .select(&sel("input, select, textarea, button"))
        .next()
        .is_none();
    let parent = form.parent().map(|p| p.id());
    let mut after_form = false;
    let mut out = Vec::new();
    for el in doc.select(&sel("form, input, select, textarea, button")) {
        if el.value().name() == "form" {
            after_form = el.id() == form.id();
            continue;
        }
        let owner_ok = match el.attr("form") {
            Some(f) => Some(f) == form_id,
            None => {
                el.ancestors().any(|a| a.id() == form.id())
                    || (detached
                        && after_form
                        && parent.is_some_and(|p| el.ancestors().any(|a| a.id() == p))
                        && !el
                            .ancestors()
                            .any(|a| a.value().as_element().is_some_and(|e| e.name() == "form")))
            }
        };
        // A nameless control submits nothing, but a nameless submit control still sends the form.
        let name = el.attr("name").unwrap_or("");
        let is_submit = match el.value().name() {
            "button" => matches!(attr_lc(&el, "type").as_str(), "" | "submit"),
            "input" => attr_lc(&el, "type") == "submit",
            _ => false,
        };
        if !owner_ok || el.attr("disabled").is_some() || (name.is_empty() && !is_submit) {
            continue;
        }
        let label = label_of(doc, &el);
        let push = |out: &mut Vec<(Control, String)>, kind, value: String, describe: String| {
            out.push((
                Control {
                    name: name.to_string(),
                    kind,
                    id: el.attr("id").map(str::to_string),
                    label: label.clone(),
                    value,
                    secret: false,
                },
                describe,
            ))
        };
        let value = el.attr("value").unwrap_or("").to_string();
        match el.value().name() {
            "select" => {
                let options: Vec<ElementRef> = el.select(&sel("option")).collect();
                let option_value = |o: &ElementRef| {
                    o.attr("value")
                        .map(str::to_string)
                        .unwrap_or_else(|| collapse(&o.text().collect::<String>()))
                };
                let selected: Vec<&ElementRef> = options
                    .iter()
                    .filter(|o| o.attr("selected").is_some())
                    .collect();
                if selected.is_empty() {
                    // A single-choice select submits its first option when none is marked.
                    if let (None, Some(first)) = (
                        el.attr("multiple"),
                        options.iter().find(|o| o.attr("disabled").is_none()),
                    ) {
                        push(
                            &mut out,
                            ControlKind::Select,
                            option_value(first),
                            String::new(),
                        );
                    }
                } else {
                    for o in selected {
                        push(
                            &mut out,
                            ControlKind::Select,
                            option_value(o),
                            String::new(),
                        );
                    }
                }
            }
            "textarea" => {
                let text: String = el.text().collect();
                push(
                    &mut out,
                    ControlKind::Textarea,
                    text.strip_prefix('\n').unwrap_or(&text).to_string(),
                    String::new(),
                );
            }
            "button" => {
                let t = attr_lc(&el, "type");
                if t.is_empty() || t == "submit" {
                    let text = collapse(&el.text().collect::<String>());
                    push(
                        &mut out,
                        ControlKind::Submit,
                        value.clone(),
                        format!("button \"{text}\" {value}"),
                    );
                }
            }
            _ => match attr_lc(&el, "type").as_str() {
                "hidden" => push(&mut out, ControlKind::Hidden, value, String::new()),
                "password" => push(&mut out, ControlKind::Password, value, String::new()),
                "checkbox" | "radio" if el.attr("checked").is_some() => {
                    let kind = if attr_lc(&el, "type") == "radio" {
                        ControlKind::Radio
                    } else {
                        ControlKind::Checkbox
                    };
                    push(
                        &mut out,
                        kind,
                        el.attr("value").unwrap_or("on").to_string(),
                        String::new(),
                    )
                }
                "checkbox" | "radio" | "file" | "image" | "reset" | "button" => {}
                "submit" => {
                    let v = el.attr("value").unwrap_or("Submit").to_string();
                    push(
                        &mut out,
                        ControlKind::Submit,
                        v.clone(),
                        format!("input \"{v}\""),
                    )
                }
                _ => push(&mut out, ControlKind::Text, value, String::new()),
            },
        }
    }
    out
}

fn label_of(doc: &Html, el: &ElementRef) -> Option<String> {
    if let Some(id) = el.attr("id") {
        if let Some(l) = doc
            .select(&sel("label[for]"))
            .find(|l| l.attr("for") == Some(id))
        {
            return Some(collapse(&l.text().collect::<String>()));
        }
    }
    if let Some(l) = el
        .ancestors()
        .filter_map(ElementRef::wrap)
        .find(|a| a.value().name() == "label")
    {
        return Some(collapse(&l.text().collect::<String>()));
    }
    ["aria-label", "placeholder", "title"]
        .iter()
        .find_map(|a| el.attr(a).map(str::to_string))
}

//! Collecting every control each form of a page submits, with the value the page rendered and
//! its label, the way a browser builds a form submission: one walk over the page, whatever its
//! number of forms, controls and labels.
//!
//! The work is linear in the page: owners and enclosing labels come from the walk's stack, the
//! `<label for>` map is built once, each label's text is read once and cut short
//! ([`bounded_text`]), and a page with more than [`MAX_FORMS`] forms or [`MAX_CONTROLS`]
//! controls is refused before any control is read.

use super::{attr_lc, collapse, Control, ControlKind, MAX_CONTROLS, MAX_FORMS};
use ego_tree::iter::Edge;
use ego_tree::NodeId;
use scraper::{ElementRef, Html, Node};
use std::collections::HashMap;

/// How much of an element's text is read.
#[derive(Debug, Clone, Copy)]
pub(super) struct TextBound {
    /// Nodes read.
    pub nodes: usize,
    /// Characters kept.
    pub chars: usize,
}

/// A label's or a submit button's text: real ones have a few words in a handful of nodes.
const LABEL_TEXT: TextBound = TextBound {
    nodes: 64,
    chars: 200,
};

/// What one walk over a page found.
pub(super) struct PageScan<'a> {
    /// Every form, in tree order.
    pub forms: Vec<ElementRef<'a>>,
    /// For each form (same index), every control it submits, in tree order, each with a second
    /// string describing submit controls.
    pub controls: Vec<Vec<(Control, String)>>,
    /// Nodes visited (the walk, label texts, options): the work done, linear in the page.
    pub visits: usize,
}

/// A page over the caps: how many forms or controls it has, and which cap that breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OverCap {
    /// `forms` or `controls`.
    pub what: &'static str,
    /// The cap.
    pub limit: usize,
}

/// One control found by the walk, before it is read.
struct Found<'a> {
    el: ElementRef<'a>,
    /// The form that owns it ([`PageScan::forms`] index), if any, when it names none.
    owner: Option<usize>,
    /// The id its `form` attribute names (resolved once every form is known: the form may come
    /// later in the page).
    named_form: Option<&'a str>,
    /// The innermost `<label>` around it.
    enclosing_label: Option<ElementRef<'a>>,
}

/// State of the walk: what is open, the forms and `<label for>`s seen, the controls found.
#[derive(Default)]
struct Walk<'a> {
    /// Every open node, outermost first.
    open: Vec<NodeId>,
    /// Open forms and labels (indexes into `forms`, elements), innermost last.
    open_forms: Vec<usize>,
    open_labels: Vec<ElementRef<'a>>,
    forms: Vec<ElementRef<'a>>,
    /// Whether each form has a control among its descendants.
    form_has_controls: Vec<bool>,
    /// The most recent form and the depth of its parent in `open` (a detached form's owner).
    last_form: Option<(usize, usize, NodeId)>,
    forms_by_id: HashMap<&'a str, usize>,
    labels_for: HashMap<&'a str, ElementRef<'a>>,
    found: Vec<Found<'a>>,
    visits: usize,
}

/// Walks `doc` once and collects what each form submits; refuses a page over the caps.
pub(super) fn scan(doc: &Html) -> Result<PageScan<'_>, OverCap> {
    let mut walk = Walk::default();
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                walk.visits += 1;
                if let Some(el) = ElementRef::wrap(node) {
                    walk.open_element(el)?;
                }
                walk.open.push(node.id());
            }
            Edge::Close(node) => {
                walk.open.pop();
                if let Some(el) = ElementRef::wrap(node) {
                    match el.value().name() {
                        "form" => drop(walk.open_forms.pop()),
                        "label" => drop(walk.open_labels.pop()),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(walk.finish())
}

impl<'a> Walk<'a> {
    fn open_element(&mut self, el: ElementRef<'a>) -> Result<(), OverCap> {
        match el.value().name() {
            "form" => {
                if self.forms.len() == MAX_FORMS {
                    return Err(OverCap {
                        what: "forms",
                        limit: MAX_FORMS,
                    });
                }
                let index = self.forms.len();
                if let Some(id) = el.value().attr("id") {
                    self.forms_by_id.entry(id).or_insert(index);
                }
                let parent = el.parent().map(|p| p.id());
                self.last_form = parent.map(|p| (index, self.open.len(), p));
                self.forms.push(el);
                self.form_has_controls.push(false);
                self.open_forms.push(index);
            }
            "label" => {
                if let Some(target) = el.value().attr("for") {
                    self.labels_for.entry(target).or_insert(el);
                }
                self.open_labels.push(el);
            }
            "input" | "select" | "textarea" | "button" => {
                if self.found.len() == MAX_CONTROLS {
                    return Err(OverCap {
                        what: "controls",
                        limit: MAX_CONTROLS,
                    });
                }
                let owner = self.owner(&el);
                if let Some(&innermost) = self.open_forms.last() {
                    self.form_has_controls[innermost] = true;
                }
                self.found.push(Found {
                    el,
                    owner,
                    named_form: el.value().attr("form"),
                    enclosing_label: self.open_labels.last().copied(),
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// The form `el` belongs to when it names none in a `form` attribute: the form around it.
    /// A form opened inside a table is left empty by the HTML parser, its controls placed after
    /// it in the table; browsers still submit them with it (the parser's form pointer). Such a
    /// form owns the controls outside any form that follow it within its parent.
    fn owner(&self, el: &ElementRef<'a>) -> Option<usize> {
        if el.value().attr("form").is_some() {
            return None;
        }
        if let Some(&innermost) = self.open_forms.last() {
            return Some(innermost);
        }
        let (form, depth, parent) = self.last_form?;
        // Its parent is still open (the walk is inside it) when it sits at the same depth.
        let in_parent = depth >= 1 && self.open.get(depth - 1) == Some(&parent);
        (in_parent && !self.form_has_controls[form]).then_some(form)
    }

    /// Reads every control found into its form's list.
    fn finish(mut self) -> PageScan<'a> {
        let mut controls: Vec<Vec<(Control, String)>> = vec![Vec::new(); self.forms.len()];
        let mut label_texts: HashMap<NodeId, String> = HashMap::new();
        let found = std::mem::take(&mut self.found);
        for f in found {
            let owner = match f.named_form {
                Some(id) => self.forms_by_id.get(id).copied(),
                None => f.owner,
            };
            let Some(owner) = owner else { continue };
            let label = self.label_of(&f, &mut label_texts);
            self.read(&f.el, label, &mut controls[owner]);
        }
        PageScan {
            forms: self.forms,
            controls,
            visits: self.visits,
        }
    }

    /// The control's label: `<label for>` (the first naming it), an enclosing label,
    /// `aria-label`, `placeholder` or `title`. Each label's text is read once.
    fn label_of(&mut self, f: &Found<'a>, texts: &mut HashMap<NodeId, String>) -> Option<String> {
        let by_for =
            f.el.value()
                .attr("id")
                .and_then(|id| self.labels_for.get(id).copied());
        if let Some(label) = by_for.or(f.enclosing_label) {
            let visits = &mut self.visits;
            let text = texts
                .entry(label.id())
                .or_insert_with(|| bounded_text(&label, LABEL_TEXT, visits));
            return Some(text.clone());
        }
        ["aria-label", "placeholder", "title"]
            .iter()
            .find_map(|a| f.el.value().attr(a).map(str::to_string))
    }

    /// Appends what `el` submits (nothing, one pair, or a select's selected options).
    fn read(
        &mut self,
        el: &ElementRef<'a>,
        label: Option<String>,
        out: &mut Vec<(Control, String)>,
    ) {
        // A nameless control submits nothing, but a nameless submit control still sends the form.
        let name = el.value().attr("name").unwrap_or("");
        let kind_attr = attr_lc(el, "type");
        let is_submit = match el.value().name() {
            "button" => matches!(kind_attr.as_str(), "" | "submit"),
            "input" => kind_attr == "submit",
            _ => false,
        };
        if el.value().attr("disabled").is_some() || (name.is_empty() && !is_submit) {
            return;
        }
        let mut push = |kind, value: String, describe: String| {
            out.push((
                Control {
                    name: name.to_string(),
                    kind,
                    id: el.value().attr("id").map(str::to_string),
                    label: label.clone(),
                    value,
                    secret: false,
                },
                describe,
            ))
        };
        let value = el.value().attr("value").unwrap_or("").to_string();
        match el.value().name() {
            "select" => {
                for v in selected_options(el, &mut self.visits) {
                    push(ControlKind::Select, v, String::new());
                }
            }
            "textarea" => {
                let text: String = el.text().collect();
                let text = text.strip_prefix('\n').unwrap_or(&text).to_string();
                push(ControlKind::Textarea, text, String::new());
            }
            "button" if is_submit => {
                let text = bounded_text(el, LABEL_TEXT, &mut self.visits);
                let describe = format!("button \"{text}\" {value}");
                push(ControlKind::Submit, value, describe);
            }
            "button" => {}
            _ => {
                if let Some((kind, value, describe)) = input_pair(el, &kind_attr) {
                    push(kind, value, describe);
                }
            }
        }
    }
}

/// What an `<input>` of type `kind_attr` submits (kind, value, description): nothing for an
/// unchecked box, a file, an image, a reset or a plain button.
fn input_pair(el: &ElementRef, kind_attr: &str) -> Option<(ControlKind, String, String)> {
    let value = |default: &str| el.value().attr("value").unwrap_or(default).to_string();
    let checked = el.value().attr("checked").is_some();
    Some(match kind_attr {
        "hidden" => (ControlKind::Hidden, value(""), String::new()),
        "password" => (ControlKind::Password, value(""), String::new()),
        "checkbox" if checked => (ControlKind::Checkbox, value("on"), String::new()),
        "radio" if checked => (ControlKind::Radio, value("on"), String::new()),
        "checkbox" | "radio" | "file" | "image" | "reset" | "button" => return None,
        "submit" => {
            let v = value("Submit");
            let describe = format!("input \"{v}\"");
            (ControlKind::Submit, v, describe)
        }
        _ => (ControlKind::Text, value(""), String::new()),
    })
}

/// The values a `<select>` submits: its selected options, or for a single-choice select with
/// none marked, its first enabled option.
fn selected_options(el: &ElementRef, visits: &mut usize) -> Vec<String> {
    let options: Vec<ElementRef> = el
        .descendants()
        .inspect(|_| *visits += 1)
        .filter_map(ElementRef::wrap)
        .filter(|o| o.value().name() == "option")
        .collect();
    let value = |o: &ElementRef| {
        o.value()
            .attr("value")
            .map(str::to_string)
            .unwrap_or_else(|| collapse(&o.text().collect::<String>()))
    };
    let selected: Vec<String> = options
        .iter()
        .filter(|o| o.value().attr("selected").is_some())
        .map(value)
        .collect();
    if !selected.is_empty() || el.value().attr("multiple").is_some() {
        return selected;
    }
    options
        .iter()
        .find(|o| o.value().attr("disabled").is_none())
        .map(value)
        .into_iter()
        .collect()
}

/// The text of `el`, whitespace collapsed, from at most `bound.nodes` of its nodes and cut to
/// `bound.chars` characters: a label or a button is a few words, and a page that wraps half of
/// itself in one must not make every control read it again. Counts the nodes read in `visits`.
pub(super) fn bounded_text(el: &ElementRef, bound: TextBound, visits: &mut usize) -> String {
    let mut text = String::new();
    for node in el.descendants().take(bound.nodes) {
        *visits += 1;
        if let Node::Text(t) = node.value() {
            text.push_str(t);
            if text.len() > bound.chars * 4 {
                break;
            }
        }
    }
    collapse(&text).chars().take(bound.chars).collect()
}

//! Which events a reader wants: by type, pod, image, name and time, in
//! podman's spelling (`--filter type=app_exited,pod_exited --filter
//! pod=0f1e`): values of one key are alternatives, different keys must all
//! match.

use std::time::SystemTime;

use crate::{Event, EventType};

/// A filter that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// Not `KEY=VALUE`.
    #[error("filter {0:?}: expected KEY=VALUE (type, pod, image, name)")]
    Syntax(String),
    /// A key no filter has.
    #[error("unknown filter {0:?} (use type, pod, image or name)")]
    Key(String),
    /// A type no event has.
    #[error(transparent)]
    Type(#[from] crate::event::UnknownType),
}

/// What to let through; empty lists let everything through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Event types.
    pub types: Vec<EventType>,
    /// Pod UUIDs, or unique prefixes of them (pod and app events).
    pub pods: Vec<String>,
    /// Image ids (with or without `sha256:`, or a prefix) or references.
    pub images: Vec<String>,
    /// Names: an app's, an image reference.
    pub names: Vec<String>,
    /// Nothing before this.
    pub since: Option<SystemTime>,
    /// Nothing after this.
    pub until: Option<SystemTime>,
}

impl Filter {
    /// Adds one `--filter` argument: `KEY=VALUE[,VALUE...][,KEY=VALUE...]`
    /// (a bare value continues the key before it). `event` is taken for
    /// `type`, `container` and `id` for `pod`, `app` for `name`.
    pub fn add(&mut self, arg: &str) -> Result<(), FilterError> {
        let mut key: Option<String> = None;
        for part in arg.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let value = match part.split_once('=') {
                Some((k, v)) => {
                    key = Some(k.trim().to_string());
                    v.trim()
                }
                None => part,
            };
            let Some(k) = key.as_deref() else {
                return Err(FilterError::Syntax(arg.to_string()));
            };
            if value.is_empty() {
                return Err(FilterError::Syntax(arg.to_string()));
            }
            match k {
                "type" | "event" => self.types.push(value.parse()?),
                "pod" | "id" | "container" => self.pods.push(value.to_string()),
                "image" => self.images.push(value.to_string()),
                "name" | "app" => self.names.push(value.to_string()),
                other => return Err(FilterError::Key(other.to_string())),
            }
        }
        Ok(())
    }

    /// Whether `e` passes.
    pub fn matches(&self, e: &Event) -> bool {
        let t = e.system_time();
        let any = |list: &[String], f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| f(v))
        };
        self.since.is_none_or(|s| t >= s)
            && self.until.is_none_or(|u| t <= u)
            && (self.types.is_empty() || self.types.contains(&e.kind))
            && any(&self.pods, &|p| !e.kind.is_image() && e.id.starts_with(p))
            && any(&self.images, &|i| image_matches(e, i))
            && any(&self.names, &|n| {
                e.name.as_deref() == Some(n) || e.app.as_deref() == Some(n)
            })
    }
}

/// An image event's id or reference, or the image of a pod event.
fn image_matches(e: &Event, wanted: &str) -> bool {
    let id_matches = |id: &str| {
        let hex = id.strip_prefix("sha256:").unwrap_or(id);
        let w = wanted.strip_prefix("sha256:").unwrap_or(wanted);
        w.len() >= 4 && hex.starts_with(w)
    };
    if e.kind.is_image() {
        id_matches(&e.id) || e.name.as_deref() == Some(wanted)
    } else {
        e.image
            .as_deref()
            .is_some_and(|i| i == wanted || id_matches(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Filter, FilterError> {
        let mut f = Filter::default();
        args.iter().try_for_each(|a| f.add(a))?;
        Ok(f)
    }

    #[test]
    fn podman_spelling_with_comma_lists() {
        let f = parse(&["type=app_exited,pod_exited,pod=0f1e", "image=busybox"]).unwrap();
        assert_eq!(f.types, [EventType::AppExited, EventType::PodExited]);
        assert_eq!(f.pods, ["0f1e"]);
        assert_eq!(f.images, ["busybox"]);
        assert!(matches!(parse(&["bogus"]), Err(FilterError::Syntax(_))));
        assert!(matches!(parse(&["colour=red"]), Err(FilterError::Key(_))));
        assert!(matches!(
            parse(&["type=pod_sneezed"]),
            Err(FilterError::Type(_))
        ));
        assert!(matches!(parse(&["type="]), Err(FilterError::Syntax(_))));
    }

    #[test]
    fn keys_and_together_values_or_together() {
        let exit = Event::new(EventType::AppExited, "0f1e2d")
            .with_app("web")
            .with_image("docker.io/library/busybox:latest");
        let img = Event::new(EventType::ImageRemoved, "sha256:abcdef01").with_name("busybox");
        let f = parse(&["type=app_exited,pod_started", "pod=0f1e"]).unwrap();
        assert!(f.matches(&exit));
        assert!(!f.matches(&img));
        assert!(!parse(&["pod=0f1f"]).unwrap().matches(&exit));
        assert!(parse(&["name=web"]).unwrap().matches(&exit));
        let by_image = parse(&["image=sha256:abcd"]).unwrap();
        assert!(by_image.matches(&img));
        assert!(!by_image.matches(&exit));
        assert!(parse(&["image=busybox"]).unwrap().matches(&img));
        assert!(
            parse(&["image=docker.io/library/busybox:latest"])
                .unwrap()
                .matches(&exit)
        );
        // An image filter never matches a pod by its UUID.
        assert!(!parse(&["image=0f1e2d"]).unwrap().matches(&exit));
    }
}

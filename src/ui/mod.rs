//! The desktop app (egui/eframe). Panels are small structs that return
//! actions; `app.rs` owns them and applies the actions after drawing.

pub mod app;
pub mod burst_view;
pub mod capture;
pub mod checksum_picker;
pub mod composer;
pub mod form;
pub mod framing_form;
pub mod i18n;
pub mod inspector;
pub mod labels;
pub mod log_view;
pub mod model;
pub mod presets;
pub mod responder_form;
pub mod rules_form;
pub mod serial_form;
pub mod sessions;
pub mod stepper_panel;
pub mod store_worker;
pub mod system_view;
pub mod tls_form;
pub mod ws_form;

pub use app::App;

use crate::engine::SessionSpec;
use crate::engine::options::OptName;

use crate::store::Store;

/// Why the window could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum GuiError {
    /// Neither X11 nor Wayland is reachable.
    #[error(
        "no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so there is no screen to open the window on.\n\
         Run it from a desktop session, under Xvfb (xvfb-run sockscope), or use the headless runner:\n\
         sockscope run FILE.ron   (examples in assets/presets/)"
    )]
    NoDisplay,
    /// The window system refused.
    #[error(
        "could not open the window: {0}\nThe headless runner works without one: sockscope run FILE.ron"
    )]
    Window(String),
}

/// Opens the window and runs until it is closed; presets and the last
/// workspace live in `store` (None: nothing is saved).
pub fn run(open: Vec<SessionSpec>, store: Option<Store>) -> Result<(), GuiError> {
    let set = |v: &str| std::env::var_os(v).is_some_and(|d| !d.is_empty());
    if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return Err(GuiError::NoDisplay);
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Sockscope")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([800.0, 500.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Sockscope",
        options,
        Box::new(move |cc| Ok(Box::new(App::new(&cc.egui_ctx, open, store)))),
    )
    .map_err(|e| GuiError::Window(e.to_string()))
}

/// A socket option picker and its value field, as the inspector (live
/// setsockopt) and the stepper (setsockopt/getsockopt calls) both show it.
fn option_picker(
    ui: &mut egui::Ui,
    id: &str,
    label: &str,
    v6: bool,
    shape: Option<crate::engine::options::SocketShape>,
    opt: &mut OptName,
    value: &mut String,
) {
    // With a socket to set it on, only the options that apply to it (the
    // live row started at TCP_NODELAY on a UDP socket, which the kernel
    // refuses); step mode lists them all, refusals included.
    let applies = |o: OptName| shape.is_none_or(|s| o.applies(s));
    if !applies(*opt)
        && let Some(first) = OptName::all().find(|o| applies(*o))
    {
        *opt = first;
    }
    let l = ui.label(label);
    egui::ComboBox::from_id_salt(id)
        .selected_text(opt.c_name(v6))
        .show_ui(ui, |ui| {
            for o in OptName::all().filter(|o| applies(*o)) {
                ui.selectable_value(opt, o, o.c_name(v6))
                    .on_hover_text(i18n::option_help(o.def()));
            }
        })
        .response
        .labelled_by(l.id);
    let lv = ui.label("=");
    ui.add(
        egui::TextEdit::singleline(value)
            .hint_text(i18n::engine_text(opt.def().ty.hint()))
            .desired_width(60.0),
    )
    .labelled_by(lv.id);
}

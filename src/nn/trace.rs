//! A network described by its layers: each layer, given the shape it receives, adds
//! its row (name, kind, output shape, parameters) and its multiply-adds per image.
//! `ganlab inspect`'s table and the FLOP count of `ganlab bench` both come from it,
//! so neither can drift from the layers the model really holds (`tests/layers.rs`
//! ties both to the articles' counts).

use super::{Conv2d, ConvTranspose2d, Dense, Padding};

/// One row of `ganlab inspect`.
#[derive(Clone, Debug)]
pub struct LayerInfo {
    pub network: &'static str,
    pub name: String,
    pub kind: String,
    pub output: String,
    pub params: usize,
}

/// Multiply-adds of one image through a network: all layers, and the first alone
/// (whose input gradient is never computed: it is the data or the noise).
#[derive(Clone, Copy, Debug)]
pub struct NetMacs {
    pub all: f64,
    pub first: f64,
}

/// A network traced from its input shape (one image or noise vector, no batch axis).
/// Multiply-adds count the nominal arithmetic of each layer (a convolution after
/// `UpSampling2D` on the upsampled image, as the article's framework runs it), not
/// what ganlab's fused kernels save.
pub struct Trace {
    net: &'static str,
    shape: Vec<usize>,
    rows: Vec<LayerInfo>,
    macs: Vec<f64>,
    /// Said before the next row's kind (`Flatten, `).
    pending: String,
}

fn shape_str(s: &[usize]) -> String {
    let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[n, {}]", dims.join(", "))
}

fn padding_str(p: Padding) -> String {
    match p {
        Padding::Same => "same".into(),
        Padding::Valid => "valid".into(),
        Padding::Explicit(p) => format!("pad {}/{}", p.before, p.after),
    }
}

impl Trace {
    pub fn new(net: &'static str, input: &[usize]) -> Trace {
        Trace {
            net,
            shape: input.to_vec(),
            rows: Vec::new(),
            macs: Vec::new(),
            pending: String::new(),
        }
    }

    fn push(mut self, name: &str, kind: String, params: usize, macs: f64) -> Trace {
        let kind = std::mem::take(&mut self.pending) + &kind;
        self.rows.push(LayerInfo {
            network: self.net,
            name: name.into(),
            kind,
            output: shape_str(&self.shape),
            params,
        });
        self.macs.push(macs);
        self
    }

    /// `Dense` on the last axis, then `then` (e.g. ", relu").
    pub fn dense(mut self, name: &str, l: &Dense, then: &str) -> Trace {
        debug_assert_eq!(self.shape.last(), Some(&l.fan_in), "{name}: input {:?}", self.shape);
        *self.shape.last_mut().expect("a Dense needs an input") = l.fan_out;
        let kind = format!("Dense {}->{}{then}", l.fan_in, l.fan_out);
        self.push(name, kind, l.param_count(), l.macs(1))
    }

    /// A `Dense` head: it reads the current shape and leaves it for the next head
    /// (ACGAN's D has two on the same features).
    pub fn head(self, name: &str, l: &Dense, then: &str) -> Trace {
        let shape = self.shape.clone();
        let mut t = self.dense(name, l, then);
        t.shape = shape;
        t
    }

    /// `Flatten()`: said in the next row.
    pub fn flatten(mut self) -> Trace {
        self.shape = vec![self.shape.iter().product()];
        self.pending.push_str("Flatten, ");
        self
    }

    /// `Reshape(...)` said in the last row (which a `Dense` filled).
    pub fn reshape(mut self, shape: &[usize], keras: &str) -> Trace {
        debug_assert_eq!(shape.iter().product::<usize>(), self.shape.iter().product::<usize>());
        self.shape = shape.to_vec();
        let row = self.rows.last_mut().expect("a layer before the reshape");
        row.kind.push_str(&format!(", Reshape({keras})"));
        row.output = shape_str(&self.shape);
        self
    }

    /// `Conv2D` on `[c, h, w]`: `[o, h', w']` by its padding and stride.
    pub fn conv(mut self, name: &str, l: &Conv2d, then: &str) -> Trace {
        let (o, c, k, _) = l.w.dims4().expect("a 4-d kernel");
        let (h, w) = (self.shape[1], self.shape[2]);
        let out = |n: usize| {
            let p = l.padding.pad(n, k, l.stride);
            (n + p.before + p.after - k) / l.stride + 1
        };
        self.shape = vec![o, out(h), out(w)];
        let macs = (o * self.shape[1] * self.shape[2] * c * k * k) as f64;
        let stride = if l.stride > 1 {
            format!(" s{}", l.stride)
        } else {
            String::new()
        };
        let kind = format!("Conv2D {o} {k}x{k}{stride} {}{then}", padding_str(l.padding));
        self.push(name, kind, l.param_count(), macs)
    }

    /// `UpSampling2D(2)`, then `Conv2D` (fused in ganlab; counted as the framework runs it).
    pub fn upsample_conv(mut self, name: &str, l: &Conv2d, then: &str) -> Trace {
        self.shape[1] *= 2;
        self.shape[2] *= 2;
        let mut t = self.conv(name, l, then);
        let row = t.rows.last_mut().expect("just pushed");
        row.kind = format!("UpSampling2D(2), {}", row.kind);
        t
    }

    /// `Conv2DTranspose` ('same'): each input pixel spreads a `k x k` kernel.
    pub fn conv_transpose(mut self, name: &str, l: &ConvTranspose2d, then: &str) -> Trace {
        let (c, o, k, _) = l.w.dims4().expect("a 4-d kernel");
        let (h, w) = (self.shape[1], self.shape[2]);
        let macs = (h * w * c * o * k * k) as f64;
        self.shape = vec![o, h * l.stride, w * l.stride];
        let kind = format!(
            "Conv2DTranspose {o} {k}x{k} s{} {}{then}",
            l.stride,
            padding_str(l.padding)
        );
        self.push(name, kind, l.param_count(), macs)
    }

    /// A row without multiply-adds that sets the shape (reshape, flatten, embedding,
    /// BatchNormalization), with its parameters.
    pub fn op(mut self, name: &str, kind: &str, shape: &[usize], params: usize) -> Trace {
        self.shape = shape.to_vec();
        self.push(name, kind.into(), params, 0.0)
    }

    /// A row for an element-wise layer (activation, dropout): the shape stays.
    pub fn act(self, name: &str, kind: &str) -> Trace {
        self.push(name, kind.into(), 0, 0.0)
    }

    /// `MaxPooling2D(2)` after the last layer, in its row.
    pub fn pool2(self) -> Trace {
        self.resample(|n| n / 2, ", MaxPooling2D(2)")
    }

    /// `UpSampling2D(2)` after the last layer, in its row.
    pub fn up2(self) -> Trace {
        self.resample(|n| n * 2, ", UpSampling2D(2)")
    }

    fn resample(mut self, f: impl Fn(usize) -> usize, what: &str) -> Trace {
        self.shape[1] = f(self.shape[1]);
        self.shape[2] = f(self.shape[2]);
        let row = self.rows.last_mut().expect("a layer before the resampling");
        row.kind.push_str(what);
        row.output = shape_str(&self.shape);
        self
    }

    /// The output shape so far (no batch axis).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Multiply-adds per image: all, and the first layer that has any.
    pub fn macs(&self) -> NetMacs {
        NetMacs {
            all: self.macs.iter().sum(),
            first: self.macs.iter().copied().find(|&m| m > 0.0).unwrap_or(0.0),
        }
    }

    pub fn rows(self) -> Vec<LayerInfo> {
        self.rows
    }
}

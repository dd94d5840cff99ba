//! Parser for the IR text form.

use crate::ir::{DType, Graph, NodeIndex, Op, QuantParams, Tensor, TensorType, Value, ValueRef};
use crate::{Error, Result};
use std::collections::HashMap;

struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn line(&self) -> usize {
        self.src[..self.pos].matches('\n').count() + 1
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::new(format!("IR text line {}: {msg}", self.line()))
    }

    fn ws(&mut self) {
        let r = self.rest();
        let trimmed = r.trim_start();
        self.pos += r.len() - trimmed.len();
        if self.rest().starts_with("//") {
            let end = self.rest().find('\n').unwrap_or(self.rest().len());
            self.pos += end;
            self.ws();
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> Result<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            let got: String = self.rest().chars().take(20).collect();
            Err(self.err(format!("expected '{tok}', found '{got}'")))
        }
    }

    fn word(&mut self) -> Result<&'a str> {
        self.ws();
        let r = self.rest();
        let len = r
            .find(|c: char| {
                !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' || c == '+')
            })
            .unwrap_or(r.len());
        if len == 0 {
            return Err(self.err("expected a word"));
        }
        self.pos += len;
        Ok(&r[..len])
    }

    fn json_string(&mut self) -> Result<String> {
        self.ws();
        let r = self.rest();
        if !r.starts_with('"') {
            return Err(self.err("expected a string"));
        }
        let mut escaped = false;
        for (i, c) in r.char_indices().skip(1) {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    self.pos += i + 1;
                    return serde_json::from_str(&r[..=i]).map_err(|e| self.err(e));
                }
                _ => escaped = false,
            }
        }
        Err(self.err("unterminated string"))
    }

    fn name(&mut self) -> Result<String> {
        self.ws();
        if self.rest().starts_with('"') {
            self.json_string()
        } else {
            Ok(self.word()?.to_string())
        }
    }

    fn json_object(&mut self) -> Result<&'a str> {
        self.ws();
        let r = self.rest();
        let (mut depth, mut in_str, mut escaped) = (0i32, false, false);
        for (i, c) in r.char_indices() {
            if in_str {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => in_str = false,
                    _ => escaped = false,
                }
                continue;
            }
            match c {
                '"' => in_str = true,
                '{' | '[' => depth += 1,
                '}' | ']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += i + 1;
                        return Ok(&r[..=i]);
                    }
                }
                _ => {}
            }
        }
        Err(self.err("unterminated attribute object"))
    }

    fn list(&mut self) -> Result<Vec<&'a str>> {
        self.expect("[")?;
        let mut items = vec![];
        if self.eat("]") {
            return Ok(items);
        }
        loop {
            items.push(self.word()?);
            if self.eat("]") {
                return Ok(items);
            }
            self.expect(",")?;
        }
    }

    fn parsed_list<T: std::str::FromStr>(&mut self) -> Result<Vec<T>> {
        let items = self.list()?;
        items
            .iter()
            .map(|s| {
                s.parse::<T>()
                    .map_err(|_| self.err(format!("bad number '{s}'")))
            })
            .collect()
    }

    fn ty(&mut self) -> Result<TensorType> {
        let dt = self.word()?;
        let dtype: DType = dt.parse().map_err(|e: String| self.err(e))?;
        let shape = self.parsed_list::<usize>()?;
        let mut ty = TensorType::new(dtype, shape);
        if self.eat("q(") {
            self.expect("scale=")?;
            let scale = self.parsed_list::<f32>()?;
            self.expect(",")?;
            self.expect("zp=")?;
            let zero_point = self.parsed_list::<i64>()?;
            let axis = if self.eat(",") {
                self.expect("axis=")?;
                Some(
                    self.word()?
                        .parse::<usize>()
                        .map_err(|_| self.err("bad axis"))?,
                )
            } else {
                None
            };
            self.expect(")")?;
            ty.quant = Some(QuantParams {
                scale,
                zero_point,
                axis,
            });
        }
        Ok(ty)
    }

    fn constant(&mut self, ty: &TensorType) -> Result<Tensor> {
        self.ws();
        if self.rest().starts_with("<elided") {
            return Err(self.err("elided constants cannot be parsed back"));
        }
        let n = crate::limits::shape_elements(&ty.shape, ty.dtype.size_bytes(), "constant")
            .map_err(|e| self.err(e.to_string()))?;
        let items = self.list()?;
        let bad = |s: &str| self.err(format!("bad {} value '{s}'", ty.dtype));
        let shape = ndarray::IxDyn(&ty.shape);
        if items.len() != n {
            return Err(self.err(format!(
                "constant of type {ty} needs {n} values, got {}",
                items.len()
            )));
        }
        macro_rules! arr {
            ($t:ty, $variant:ident) => {{
                let v: Result<Vec<$t>> = items
                    .iter()
                    .map(|s| s.parse::<$t>().map_err(|_| bad(s)))
                    .collect();
                Tensor::$variant(
                    ndarray::ArrayD::from_shape_vec(shape, v?).expect("length checked"),
                )
            }};
        }
        Ok(match ty.dtype {
            DType::F32 => arr!(f32, F32),
            DType::I8 => arr!(i8, I8),
            DType::U8 => arr!(u8, U8),
            DType::I16 => arr!(i16, I16),
            DType::I32 => arr!(i32, I32),
            DType::I64 => arr!(i64, I64),
            DType::Bool => arr!(bool, Bool),
            DType::F8E4M3 => arr!(u8, F8E4M3),
            DType::F8E5M2 => arr!(u8, F8E5M2),
            DType::F16 => arr!(half::f16, F16),
            DType::Bf16 => arr!(half::bf16, Bf16),
            DType::F64 => arr!(f64, F64),
            DType::U16 => arr!(u16, U16),
            DType::U32 => arr!(u32, U32),
            DType::U64 => arr!(u64, U64),
            DType::I4 => arr!(i8, I4),
            DType::U4 => arr!(u8, U4),
            DType::I2 => arr!(i8, I2),
            DType::U2 => arr!(u8, U2),
            DType::F4E2M1 => arr!(u8, F4E2M1),
            DType::F8E4M3Fnuz => arr!(u8, F8E4M3Fnuz),
            DType::F8E5M2Fnuz => arr!(u8, F8E5M2Fnuz),
            DType::F8E8M0 => arr!(u8, F8E8M0),
        })
        .and_then(|t| self.narrow_in_range(t))
    }

    /// Refuses 4- and 2-bit values outside their type (FP4 codes above 15 included).
    fn narrow_in_range(&self, t: Tensor) -> Result<Tensor> {
        let (lo, hi) = match t.dtype() {
            DType::F4E2M1 => (0, 15),
            d if d.is_sub_byte_int() => d.int_range().expect("integer type"),
            _ => return Ok(t),
        };
        let v = t.to_f64_vec();
        match v.iter().find(|&&x| x < lo as f64 || x > hi as f64) {
            Some(x) => Err(self.err(format!("value {x} is out of range for {}", t.dtype()))),
            None => Ok(t),
        }
    }
}

/// Parses the text form back into a graph.
pub fn parse_graph(src: &str) -> Result<Graph> {
    let mut c = Cursor { src, pos: 0 };
    c.expect("graph")?;
    let name = c.json_string()?;
    let mut g = Graph::new(name);
    let mut input_names = vec![];
    c.expect("(")?;
    if !c.eat(")") {
        loop {
            c.expect("%")?;
            input_names.push(c.name()?);
            if c.eat(")") {
                break;
            }
            c.expect(",")?;
        }
    }
    c.expect("{")?;
    let mut values: HashMap<String, ValueRef> = HashMap::new();
    loop {
        if c.eat("return") {
            break;
        }
        let mut outs = vec![];
        loop {
            c.expect("%")?;
            let vname = c.name()?;
            c.expect(":")?;
            let ty = c.ty()?;
            outs.push(Value { name: vname, ty });
            if !c.eat(",") {
                break;
            }
        }
        c.expect("=")?;
        let opname = c.word()?;
        let first = outs[0].name.clone();
        let (op, ins) = match opname {
            "input" => {
                let v = outs.into_iter().next().expect("one output");
                let node_name = if c.eat("@") {
                    c.json_string()?
                } else {
                    v.name.clone()
                };
                if !input_names.contains(&v.name) {
                    return Err(c.err(format!(
                        "input %{} is not listed in the graph header",
                        v.name
                    )));
                }
                let r = g.add_input(node_name, v.ty);
                g.node_mut(r.node).outputs[0].name = v.name.clone();
                if values.insert(v.name.clone(), r).is_some() {
                    return Err(c.err(format!("value %{} defined twice", v.name)));
                }
                continue;
            }
            "const" => {
                let value = c.constant(&outs[0].ty)?;
                (Op::Const { value }, vec![])
            }
            _ => {
                c.ws();
                let attrs = if c.rest().starts_with('{') {
                    c.json_object()?
                } else {
                    "{}"
                };
                let mut obj: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(attrs).map_err(|e| c.err(e))?;
                obj.insert("op".into(), serde_json::Value::String(opname.to_string()));
                let op: Op = serde_json::from_value(serde_json::Value::Object(obj))
                    .map_err(|e| c.err(format!("op '{opname}': {e}")))?;
                c.expect("(")?;
                let mut ins = vec![];
                if !c.eat(")") {
                    loop {
                        c.expect("%")?;
                        ins.push(c.name()?);
                        if c.eat(")") {
                            break;
                        }
                        c.expect(",")?;
                    }
                }
                let refs: Vec<ValueRef> = ins
                    .iter()
                    .map(|i| resolve(&values, i).map_err(|e| c.err(e)))
                    .collect::<Result<_>>()?;
                (op, refs)
            }
        };
        let node_name = if c.eat("@") { c.json_string()? } else { first };
        let refs = ins;
        let n_outs = outs.len();
        let names: Vec<String> = outs.iter().map(|v| v.name.clone()).collect();
        let is_const = matches!(op, Op::Const { .. });
        let node = if is_const {
            let Op::Const { value } = op else {
                unreachable!("checked is_const")
            };
            let quant = outs[0].ty.quant.clone();
            let r = g.add_const(node_name, value, quant);
            g.node_mut(r.node).outputs[0].name = names[0].clone();
            r.node
        } else {
            g.add_node(node_name, op, &refs, outs)
        };
        for (k, nm) in names.into_iter().enumerate().take(n_outs) {
            if values
                .insert(nm.clone(), ValueRef { node, output: k })
                .is_some()
            {
                return Err(c.err(format!("value %{nm} defined twice")));
            }
        }
    }
    let mut outs = vec![];
    loop {
        c.expect("%")?;
        let nm = c.name()?;
        outs.push(resolve(&values, &nm).map_err(|e| c.err(e))?);
        if !c.eat(",") {
            break;
        }
    }
    c.expect("}")?;
    for nm in &input_names {
        resolve(&values, nm).map_err(|e| c.err(e))?;
    }
    g.set_outputs(outs);
    // Graph inputs in header order: each listed once, each defined by an `input` line.
    let mut order: Vec<NodeIndex> = Vec::with_capacity(input_names.len());
    for nm in &input_names {
        let n = values[nm].node;
        if !g.inputs().contains(&n) {
            return Err(c.err(format!("%{nm} in the graph header is not an input")));
        }
        if order.contains(&n) {
            return Err(c.err(format!("%{nm} is listed twice in the graph header")));
        }
        order.push(n);
    }
    g.reorder_inputs(&order);
    Ok(g)
}

fn resolve(
    values: &HashMap<String, ValueRef>,
    name: &str,
) -> std::result::Result<ValueRef, String> {
    values
        .get(name)
        .copied()
        .ok_or_else(|| format!("unknown value %{name}"))
}

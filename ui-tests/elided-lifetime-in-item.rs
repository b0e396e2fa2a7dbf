#![deny(warnings)]
use anysync::yield_;

pub struct Doc {
    text: String,
}

impl Doc {
    // Regression test: `item = &str` stayed elided beside the named lifetime of `&self`, and
    // rustc's `mismatched_lifetime_syntaxes` lint suggested the hidden `'__anysync0` to the
    // user. No warning is the expected output (the `compile_error!` below makes one line).
    #[anysync::iterator(item = &str)]
    pub async fn words(&self) {
        for word in self.text.split(' ') {
            yield_!(word);
        }
    }

    #[anysync::generator(item = &str, send = &str)]
    pub async fn echo(&self) {
        let _ = yield_!(&self.text);
    }

    #[anysync::context(item = &str)]
    pub async fn lend(&self) {
        yield_!(&self.text);
    }
}

fn main() {
    let doc = Doc { text: "a b".into() };
    let _ = (doc.words(), doc.echo(), doc.lend());
    compile_error!("no warning above this line");
}

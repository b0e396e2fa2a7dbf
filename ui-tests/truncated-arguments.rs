#[anysync::coroutine(,)]
async fn lone_comma() {}

#[anysync::coroutine(?Send,,)]
async fn double_comma() {}

#[anysync::coroutine(?)]
async fn bare_question_mark() {}

#[anysync::coroutine(crate)]
async fn crate_without_value() {}

#[anysync::coroutine(crate =)]
async fn crate_without_path() {}

#[anysync::iterator(item =)]
async fn item_without_type() {}

fn main() {}

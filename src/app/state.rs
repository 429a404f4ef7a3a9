//! The page's state is `crate::page` (pure, tested natively); here it becomes yew's reducer.

use std::rc::Rc;

use yew::Reducible;

pub use crate::page::*;

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        Rc::new(reduce(&self, action))
    }
}

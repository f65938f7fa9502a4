pub mod corpus;
mod golden;
mod limits;
mod props;

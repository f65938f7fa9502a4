//! Scenario tests of the core: scripted sessions in real `b` frames through `Session`.

mod it;

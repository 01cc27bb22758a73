"""The basic-insurance platform (基本医保) as this product sees it, and its built-in simulator."""

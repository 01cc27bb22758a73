"""Public disclosure of a product's figures (002 三(五)) and complaints handling
(002 三(五), 004 二(三)3)."""

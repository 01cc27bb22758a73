"""The bureau's periodic reports (issue 19): the disclosure's figures for a month or a chosen
period, by district, scheme, channel and age band, with claims, turnaround and complaints."""

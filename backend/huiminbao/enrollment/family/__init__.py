"""Family members: whom a resident may enroll and pay for (spouse, children, parents), verified by
the registry's family links or by a code to the relative's phone."""

/* A shared object that forgot WEFT_PLUGIN_DEFINE(). */
int weft_test_no_entry (void);
int weft_test_no_entry (void) { return 42; }

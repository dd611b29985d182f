DROP TABLE handler_state;
